"""The HTML report: the report notebook executed with papermill, exported offline.

Parameters are checked against the database *before* any cell runs, so a typo gives
one clear sentence instead of a half-executed notebook. Execution keeps the executed
``.ipynb`` next to the HTML (for inspection and for nbval); the HTML hides the code and
embeds plotly.js once, so every chart renders with no network.

nbconvert knows nothing of plotly's notebook MIME type and would drop the charts; a
small preprocessor renders each figure to an HTML div first.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import plotly.io as pio  # type: ignore[import-untyped]
from sqlalchemy import text

from gallery_analytics.extras import require_extra

with require_extra("notebook", needed_by=__name__):
    import nbformat
    import papermill
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import Preprocessor

from gallery_analytics import panels
from gallery_analytics.charts import PLOTLY_CONFIG, Period
from gallery_analytics.config import Settings, process_environment
from gallery_analytics.db.database import Database
from gallery_analytics.domain.filters import REPORT_PARAMETERS as PARAMETERS
from gallery_analytics.domain.filters import OverviewFilters, default_period
from gallery_analytics.domain.results import GalleryOverviewDto, PanelResult
from gallery_analytics.domain.values import reject_awaitable, require_currency_code
from gallery_analytics.errors import (
    GalleryAnalyticsError,
    NotFoundError,
    ReportExecutionError,
    ReportIncompleteError,
    ValidationError,
)
from gallery_analytics.notebooks import kernel_manager_class, notebooks_dir
from gallery_analytics.outputs import claim_outputs
from gallery_analytics.services.catalog import CatalogService
from gallery_analytics.services.dashboard import DashboardService

REPORT_NOTEBOOK = "04-report.ipynb"
PLOTLY_MIME = "application/vnd.plotly.v1+json"
TEMPLATE_DIR = Path(__file__).parent / "report_template"
HEADING_METADATA = "gallery_report"  # output metadata key of the heading: failed panels
# Characters Markdown gives a meaning to inside a line; escaped so data shows as typed
# (no links, emphasis or code made of a medium's name). The heading line starts with
# fixed text, so line-start syntax ("- ", "1. ", "# ") cannot arise.
_MARKDOWN_PUNCTUATION = frozenset("\\`*_{}[]()#+!|~")


@dataclass(frozen=True, slots=True)
class ReportParameters:
    """The report notebook's parameters: the overview filters as text, as the CLI's
    ``--param`` and papermill pass them. The one mapping between the two lives here
    (:meth:`parse`, :meth:`from_filters`, :meth:`filters`): the CLI, the widget's export
    and the report notebook all use it. Every filter that changes what the overview
    shows is a parameter (the others are ``NOT_REPORT_PARAMETERS``, with the reason), so
    a report never silently shows something other than the view it was exported from."""

    start: dt.date
    end: dt.date
    user_id: str | None = None
    medium: str | None = None  # one medium, or several separated by commas
    status: str | None = None  # an artwork status: available, reserved, sold, on_loan
    artist_id: str | None = None  # the report on one artist's artworks
    currency: str = "EUR"  # money is shown in this currency (converted at monthly rates)

    @classmethod
    def from_filters(cls, filters: OverviewFilters, *, today: dt.date | None) -> ReportParameters:
        """The parameters of a report on ``filters``; a filter without a start or an end
        gets the report's default period, :func:`default_period` of ``today`` (which may
        be None when both dates are given: reading it needs the database).

        Filters asking for what the report cannot show (another ``top_n``) are refused,
        never dropped: the report would show something else than they do."""
        reject_awaitable(filters, field="filters")
        if not isinstance(filters, OverviewFilters):
            raise ValidationError(
                "filters", f"expected OverviewFilters, got {type(filters).__name__}"
            )
        default_top_n = OverviewFilters.model_fields["top_n"].default
        if filters.top_n != default_top_n:
            raise ValidationError(
                "top_n",
                f"a report ranks the top {default_top_n} artists and has no parameter for "
                f"another number; got {filters.top_n}",
                value=filters.top_n,
            )
        start, end = filters.start, filters.end
        if start is None or end is None:
            if today is None:
                raise ValidationError(
                    "today", "a report without start and end needs today (its default period)"
                )
            default_start, default_end = default_period(today)
            start, end = start or default_start, end or default_end
            if start > end:
                raise ValidationError(
                    "end" if filters.end is None else "start",
                    f"the range {start.isoformat()} to {end.isoformat()} is reversed "
                    "(a missing date comes from the default period, the last full year "
                    "before today): give both start and end",
                )
        return cls(
            start=start,
            end=end,
            user_id=filters.user_id,
            medium=",".join(filters.mediums) or None,
            status=filters.status.value if filters.status else None,
            artist_id=filters.artist_id,
            currency=filters.currency,
        )

    @classmethod
    def parse(cls, raw: Mapping[str, object], *, today: dt.date | None) -> ReportParameters:
        """Parameters as given (text or None, dates too): dates as YYYY-MM-DD, missing
        ones from the default period of ``today``, mediums split at commas, no currency
        meaning EUR, every value checked as :class:`OverviewFilters` checks it (no
        database: see :func:`check_parameters`)."""
        reject_awaitable(raw, field="parameters")
        if not isinstance(raw, Mapping):
            raise ValidationError("parameters", f"expected a dict, got {type(raw).__name__}")
        for name, value in raw.items():
            reject_awaitable(value, field=str(name))
        unknown = sorted(set(raw) - set(PARAMETERS), key=str)
        if unknown:
            raise ValidationError(
                str(unknown[0]),
                f"unknown report parameter; expected one of {', '.join(PARAMETERS)}",
            )
        medium = raw.get("medium")
        if medium is not None and not isinstance(medium, str):
            raise ValidationError(
                "medium", "expected a medium name, or several separated by commas", value=medium
            )
        filters = OverviewFilters.parse(
            {
                "start": _date(raw.get("start"), "start"),
                "end": _date(raw.get("end"), "end"),
                "user_id": raw.get("user_id") or None,
                "mediums": [m.strip() for m in (medium or "").split(",") if m.strip()],
                "status": raw.get("status") or None,
                "artist_id": raw.get("artist_id") or None,
                # The filters' own type, with a sentence rather than its pattern.
                **(
                    {"currency": require_currency_code(raw["currency"], field="currency")}
                    if raw.get("currency")
                    else {}
                ),
            }
        )
        return cls.from_filters(filters, today=today)

    def filters(self) -> OverviewFilters:
        """The overview filters these parameters describe (mediums split at commas)."""
        return OverviewFilters.parse(
            {
                "start": self.start,
                "end": self.end,
                "user_id": self.user_id,
                "mediums": [m.strip() for m in (self.medium or "").split(",") if m.strip()],
                "status": self.status,
                "artist_id": self.artist_id,
                "currency": self.currency,
            }
        )

    def for_papermill(self) -> dict[str, Any]:
        """The notebook's ``parameters`` cell values, one per name of REPORT_PARAMETERS."""
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "user_id": self.user_id,
            "artist_id": self.artist_id,
            "medium": self.medium,
            "status": self.status,
            "currency": self.currency,
        }


@dataclass(frozen=True, slots=True)
class Report:
    html_path: Path
    notebook_path: Path
    parameters: ReportParameters
    failed_panels: tuple[str, ...] = ()  # only with allow_partial: the report lacks these


def parse_parameter_pairs(
    pairs: Sequence[str], *, options: Mapping[str, str | None] | None = None
) -> dict[str, str]:
    """``["start=2024-01-01", ...]`` to a dict; unknown names and bad syntax are errors.

    ``options`` are parameters given another way (the CLI's ``--currency GBP``, keyed by
    parameter name; None: not given); one given both ways is an error, not a choice."""
    values: dict[str, str] = {}
    for pair in pairs:
        name, separator, value = pair.partition("=")
        name = name.strip()
        if not separator or not name:
            raise ValidationError("param", f"expected key=value, got {pair!r}", value=pair)
        if name not in PARAMETERS:
            raise ValidationError(
                name, f"unknown report parameter; expected one of {', '.join(PARAMETERS)}"
            )
        if name in values:
            raise ValidationError(name, "given more than once")
        values[name] = value.strip()
    for name, option in (options or {}).items():
        if name not in PARAMETERS:
            raise ValidationError(
                name, f"unknown report parameter; expected one of {', '.join(PARAMETERS)}"
            )
        if option is None:
            continue
        if name in values:
            raise ValidationError(name, "given more than once (as an option and as --param)")
        values[name] = option.strip()
    return values


async def check_parameters(
    db: Database, raw: OverviewFilters | Mapping[str, str | dt.date | None]
) -> ReportParameters:
    """Validate report parameters, given as text (:meth:`ReportParameters.parse`) or as
    the overview filters to report on, including the user, medium, artist and currency
    against the database (a currency needs exchange rates: a report in one without any
    would leave out every amount).

    Without ``start``/``end`` the report covers :func:`default_period` of the
    workbench's today.
    """
    reject_awaitable(db, field="db")
    reject_awaitable(raw, field="parameters")
    if not isinstance(raw, OverviewFilters | Mapping):
        raise ValidationError("parameters", f"expected a dict, got {type(raw).__name__}")
    # "Today" is read only when a date is missing (it needs the database): with both
    # dates given, malformed values are refused before any I/O.
    dates = (
        (raw.start, raw.end)
        if isinstance(raw, OverviewFilters)
        else (
            raw.get("start"),
            raw.get("end"),
        )
    )
    today = await db.today() if any(date in (None, "") for date in dates) else None
    if isinstance(raw, OverviewFilters):
        parameters = ReportParameters.from_filters(raw, today=today)
    else:
        parameters = ReportParameters.parse(raw, today=today)
    # Reach the database before any cell runs: an unreachable server or a wrong password
    # is one line here, not a report of failed panels.
    async with db.read_session() as session:
        await session.execute(text("SELECT 1"))
    service = DashboardService(db)
    filters = await service.check_filters(parameters.filters())
    await artist_name(db, filters.artist_id)
    currencies = await service.list_currencies()
    if filters.currency not in currencies:
        raise ValidationError(
            "currency",
            f"no exchange rates for {filters.currency!r}; expected one of "
            f"{', '.join(currencies)} (DashboardService.list_currencies())",
            value=filters.currency,
        )
    return ReportParameters.from_filters(filters, today=today)


async def artist_name(db: Database, artist_id: str | None) -> str | None:
    """The name of the artist a report is narrowed to (None without one), which the
    report states beside the id-only filter; an id naming no artist is a
    :class:`ValidationError` on ``artist_id``, as an unknown user is on ``user_id``."""
    reject_awaitable(db, field="db")
    if artist_id is None:
        return None
    try:
        return (await CatalogService(db).get_artist(artist_id)).name
    except NotFoundError:
        raise ValidationError(
            "artist_id", f"no artist has id {artist_id!r}", value=artist_id
        ) from None


def execute_report(
    parameters: ReportParameters,
    html_path: Path,
    *,
    notebook: Path | None = None,
    progress: bool = True,
    force: bool = False,
    allow_partial: bool = False,
    settings: Settings | None = None,
) -> Report:
    """Run the report notebook (``notebook``, default 04-report) and export it.

    The kernel gets ``settings`` as its ``GALLERY_*`` variables (the command's own: the
    same database, the same today, whatever ``.env`` the kernel's folder would find);
    without them it inherits this process's environment.

    Writes ``html_path`` and the executed notebook beside it (same name, ``.ipynb``).
    Neither may already exist unless ``force``; neither may be the report notebook, a
    committed notebook or the export template, even with ``force``. Failed panels make
    the run fail (:class:`ReportIncompleteError`) unless ``allow_partial``.

    Blocking (a kernel runs every cell): async callers use ``asyncio.to_thread``.
    """
    source, html_path, notebook_path = claim_report_outputs(
        html_path, force=force, notebook=notebook
    )
    try:
        html_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValidationError(
            "out", f"cannot create the folder {html_path.parent}: {exc.strerror}"
        ) from None
    # The kernel gets the command's settings, not whatever .env its folder would find.
    kernel: dict[str, Any] = (
        {}
        if settings is None
        else {"kernel_manager_class": kernel_manager_class(process_environment(settings))}
    )
    try:
        papermill.execute_notebook(
            str(source),
            str(notebook_path),
            parameters={**parameters.for_papermill(), "allow_partial": allow_partial},
            cwd=str(source.parent),
            progress_bar=progress,
            kernel_name="python3",
            **kernel,
        )
    except papermill.PapermillExecutionError as exc:
        if exc.ename == ReportIncompleteError.__name__:
            raise ReportIncompleteError(
                f"{exc.evalue}; no report written (--allow-partial writes it anyway). "
                f"The executed notebook is kept at {notebook_path}"
            ) from None
        raise ReportExecutionError(
            f"report cell {exc.exec_count or exc.cell_index} failed with {exc.ename}: "
            f"{exc.evalue}. The executed notebook is kept at {notebook_path}",
            executed_path=notebook_path,
        ) from None
    executed = nbformat.read(notebook_path, as_version=4)
    artist = _heading_metadata(executed).get("artist")
    export_html(
        notebook_path,
        html_path,
        title=report_title(parameters, artist=None if artist is None else str(artist)),
    )
    return Report(
        html_path=html_path,
        notebook_path=notebook_path,
        parameters=parameters,
        failed_panels=_failed_panels(executed),
    )


def claim_report_outputs(
    html_path: Path, *, force: bool, notebook: Path | None = None
) -> tuple[Path, Path, Path]:
    """Check the report's inputs and outputs before anything runs.

    Returns the report notebook to execute, the HTML path and the executed notebook's
    path (the HTML's, ending in ``.ipynb``), all resolved. Callers that do slow work
    first (``demo`` seeds a database) call this early so a bad ``--out`` fails at once.
    """
    html_path = Path(html_path)
    if html_path.suffix.lower() != ".html":
        raise ValidationError("out", f"expected a path ending in .html, got {str(html_path)!r}")
    source = (notebook or notebooks_dir() / REPORT_NOTEBOOK).resolve()
    if not source.is_file() or source.suffix != ".ipynb":
        raise ValidationError("notebook", f"expected an existing .ipynb file, got {str(source)!r}")
    claimed_html, claimed_notebook = claim_outputs(
        [html_path, html_path.with_suffix(".ipynb")],
        force=force,
        protected=[source, TEMPLATE_DIR, *_committed_notebooks()],
    )
    return source, claimed_html, claimed_notebook


def report_heading(
    filters: OverviewFilters,
    overview: GalleryOverviewDto,
    *,
    artist: str | None = None,
    allow_partial: bool = False,
) -> Any:
    """The report's first line (what it covers, the currency of its amounts, which
    panels failed), as Markdown. ``artist`` is the name of the artist the filters narrow
    to (:func:`artist_name`); without it the id is shown.

    Every value is escaped for Markdown and HTML: a medium, an artist's name, a user id
    or an error message shows as typed and can never become markup or script in the HTML
    report. Raises :class:`ReportIncompleteError` when panels failed, unless
    ``allow_partial``.
    """
    from IPython.display import Markdown

    scope = f"{filters.start} to {filters.end}"
    if filters.mediums:
        scope += f", medium {', '.join(filters.mediums)}"
    if filters.status is not None:
        scope += f", status {filters.status.value}"
    if filters.user_id is not None:
        scope += f", user {filters.user_id}"
    if filters.artist_id is not None:
        scope += f", artist {artist if artist is not None else filters.artist_id}"
    failed = overview.failed
    if failed and not allow_partial:
        first = failed[0]
        reason = " ".join(str(first.error or first.status).split())
        raise ReportIncompleteError(
            f"{len(failed)} of {len(overview.panels)} report panels failed "
            f"(first, {first.name}: {reason})"
        )
    line = (
        f"**Period:** {escape_markdown(scope)}. "
        f"**Amounts in:** {escape_markdown(filters.currency)} (converted at monthly "
        "exchange rates). "
        f"**Panels that failed:** {len(failed)}"
        + (f" ({escape_markdown(', '.join(p.name for p in failed))})" if failed else "")
        + "."
    )
    metadata = {"failed_panels": [p.name for p in failed], "artist": artist}
    return Markdown(line, metadata={HEADING_METADATA: metadata})


def show_panel(result: PanelResult, *, period: Period | None = None) -> list[Any]:
    """What the report shows for one panel, in order, for ``display(*...)``: its chart
    (a first or last month or week that ``period``, the filters' start and end, covers
    only in part is marked as partial), or its table (:func:`show_table`), then its
    notes (what it left out) when it has any, then how old it is when the panel cache
    answered it ("cached 40 s ago": a reader sees the report may predate recent writes).

    A panel the registry does not know is shown as a table."""
    reject_awaitable(result, field="result")
    from IPython.display import HTML

    declared = next((p for p in panels.PANELS if p.name == result.name), None)
    shown: list[Any] = (
        [declared.draw(result, period=period)]
        if declared is not None and declared.charted
        else [show_table(result)]
    )
    notes = panels.notes_html(result)
    if notes:
        shown.append(HTML(notes))
    age = result.age_text()
    if age is not None:
        shown.append(HTML(f'<p class="gallery-panel-age">{html.escape(age)}</p>'))
    return shown


def show_table(result: PanelResult, *, columns: Sequence[str] | None = None) -> Any:
    """A panel result as the report's table (:func:`panels.table_html`: headings with
    units, values in their columns' formats, numbers right-aligned, no index column), as
    an IPython HTML object. ``panels.table`` is the same as a DataFrame, whose HTML shows
    pandas' row index ("0") and which nbconvert cannot align."""
    reject_awaitable(result, field="result")
    from IPython.display import HTML

    return HTML(panels.table_html(result, columns=columns))


def escape_markdown(value: str) -> str:
    """``value`` as Markdown text that renders literally: HTML characters as entities,
    Markdown punctuation backslash-escaped, line breaks as spaces. ``:``, ``.`` and
    ``@`` are entities too: renderers turn bare ``http://...``, ``www....`` and e-mail
    addresses into links (mistune, which nbconvert uses, took "http://x\\" of an
    artist's name "[Co](http://x)" as a link), and no escape stops that but breaking the
    pattern in the source."""
    out: list[str] = []
    for char in " ".join(value.splitlines()):
        if char in "&<>\"':.@":
            out.append(f"&#{ord(char)};")
        elif char in _MARKDOWN_PUNCTUATION:
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)


def _committed_notebooks() -> list[Path]:
    try:
        return sorted(notebooks_dir().glob("*.ipynb"))
    except GalleryAnalyticsError:  # an installed package has no notebooks folder
        return []


def _heading_metadata(executed: Any) -> dict[str, Any]:
    """What :func:`report_heading` filed in the executed notebook ({} without it)."""
    for cell in executed.cells:
        for output in cell.get("outputs", []):
            metadata = output.get("metadata", {})
            # IPython files a display object's metadata under its MIME type.
            found = metadata.get(HEADING_METADATA) or metadata.get("text/markdown", {}).get(
                HEADING_METADATA
            )
            if found is not None:
                return dict(found)
    return {}


def _failed_panels(executed: Any) -> tuple[str, ...]:
    return tuple(str(name) for name in _heading_metadata(executed).get("failed_panels", []))


def report_title(parameters: ReportParameters, *, artist: str | None = None) -> str:
    """The report's browser-tab title: what it covers and the currency of its amounts
    (the template escapes it). ``artist`` is the name of the parameters' artist; without
    it the id is shown."""
    scope = [f"{parameters.start.isoformat()} to {parameters.end.isoformat()}"]
    scope += [value for value in (parameters.medium, parameters.status) if value]
    if parameters.artist_id is not None:
        scope.append(f"artist {artist if artist is not None else parameters.artist_id}")
    scope.append(f"in {parameters.currency}")
    return f"Gallery report, {', '.join(scope)}"


def export_html(notebook_path: Path, html_path: Path, *, title: str) -> None:
    """Self-contained HTML of an executed notebook: no code, charts with plotly.js inline,
    ``title`` in the browser tab (nbconvert's default is the file name, "Notebook" here)."""
    notebook = nbformat.read(notebook_path, as_version=4)
    notebook.metadata["title"] = title
    exporter = HTMLExporter(
        template_name="gallery_report",
        extra_template_basedirs=[str(Path(__file__).parent / "report_template")],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    exporter.register_preprocessor(_ReportOutputs(), enabled=True)
    body, _ = exporter.from_notebook_node(notebook)
    html_path.write_text(body, encoding="utf-8")


class _ReportOutputs(Preprocessor):
    """Render plotly figures to HTML divs (plotly.js embedded once) and drop stderr noise."""

    def preprocess(self, nb: Any, resources: Any) -> tuple[Any, Any]:
        self._figures = 0
        result: tuple[Any, Any] = super().preprocess(nb, resources)
        return result

    def preprocess_cell(self, cell: Any, resources: Any, index: int) -> tuple[Any, Any]:
        outputs = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                continue
            data = output.get("data", {})
            if PLOTLY_MIME in data:
                self._figures += 1
                data["text/html"] = pio.to_html(
                    data.pop(PLOTLY_MIME),
                    include_plotlyjs=self._figures == 1,  # once, inline: works offline
                    full_html=False,
                    div_id=f"chart-{self._figures}",  # stable ids: reports diff cleanly
                    validate=False,
                    config=PLOTLY_CONFIG,  # no "Share chart" (cloud upload) button
                )
            outputs.append(output)
        if "outputs" in cell:
            cell.outputs = outputs
        return cell, resources


def _date(value: object, field: str) -> dt.date | None:
    if value is None or value == "":
        return None  # the default period's, filled in by from_filters
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str):
        raise ValidationError(field, f"expected a date as YYYY-MM-DD, got {type(value).__name__}")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValidationError(field, f"expected a date as YYYY-MM-DD, got {value!r}") from None
