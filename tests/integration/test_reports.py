"""`gallery-analytics report`: parameters checked first, papermill run, offline HTML."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest

from gallery_analytics.db.database import Database
from gallery_analytics.domain.filters import OverviewFilters
from gallery_analytics.errors import ValidationError
from gallery_analytics.notebooks import notebooks_dir
from gallery_analytics.reports import ReportParameters
from tests.conftest import run_cli


def test_report_is_written_with_its_executed_notebook(
    demo_report: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    html_path, result = demo_report
    assert f"report: {html_path}" in result.stdout
    assert "Executing" in result.stderr  # papermill's progress bar
    executed = html_path.with_suffix(".ipynb")
    assert executed.is_file()
    notebook = nbformat.read(executed, as_version=4)
    injected = [c for c in notebook.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1
    assert 'medium = "Photography"' in injected[0].source
    assert 'start = "2024-01-01"' in injected[0].source


def test_report_html_is_self_contained_with_code_hidden(
    demo_report: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    html = demo_report[0].read_text(encoding="utf-8")
    assert re.findall(r'id="(chart-\d+)"', html) == [f"chart-{n}" for n in range(1, 7)]
    assert not re.findall(r"<script[^>]+src=", html), "nothing may load from the network"
    assert html.count("Plotly.newPlot(") == 6
    assert len(re.findall(r"plotly\.js v\d", html)) == 1  # the library, inlined once
    assert "get_gallery_overview" not in html  # no code cells
    assert "Period:</strong> 2024-01-01 to 2024-06-30, medium Photography" in html
    # The tab says what the report covers (it said "Notebook").
    assert "<title>Gallery report, 2024-01-01 to 2024-06-30, Photography, in EUR</title>" in html
    assert "Amounts in:</strong> EUR (converted at monthly exchange rates)" in html
    # Tables are the registry's formatted ones, without pandas' index column ("0").
    assert re.findall(r'<table class="gallery-table" data-panel="(\w+)">', html) == [
        "key_figures",
        "top_artists",
    ]
    assert 'class="dataframe"' not in html
    assert "<th>0</th>" not in html
    # No chart offers the cloud: every figure gets the gallery's plotly config.
    assert html.count('"showSendToCloud": false') == 6


def test_executed_report_passes_nbval(
    demo_report: tuple[Path, subprocess.CompletedProcess[str]],
    seeded_db: Database,
    tmp_path: Path,
) -> None:
    """Re-running the executed report reproduces its outputs (nbval)."""
    executed = demo_report[0].with_suffix(".ipynb")
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    url = seeded_db.url.render_as_string(hide_password=False)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            "-c",
            str(tmp_path / "pytest.ini"),
            "--nbval",
            "--nbval-current-env",
            "--nbval-sanitize-with",
            str(notebooks_dir() / "sanitize.cfg"),
            str(executed),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tmp_path,
        env={
            **_environment_without_gallery(),
            "GALLERY_DATABASE_URL": url,
            # Reads as the SELECT-only role, as the report was made.
            "GALLERY_READ_DATABASE_URL": seeded_db.read_url.render_as_string(hide_password=False),
        },
    )
    assert result.returncode == 0, result.stdout[-3000:]
    cells = sum(cell.cell_type == "code" for cell in nbformat.read(executed, as_version=4).cells)
    assert re.search(rf"\b{cells} passed\b", result.stdout), result.stdout[-3000:]


def _errors(stderr: str) -> str:
    """stderr without warning lines (e.g. the configured-roles warning): what failed."""
    return "".join(
        line for line in stderr.splitlines(keepends=True) if not line.startswith("warning: ")
    )


def _environment_without_gallery() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("GALLERY_")}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (["colour=red"], "colour: unknown report parameter"),
        (["start"], "param: expected key=value"),
        (["start=2024-13-01"], "start: expected a date as YYYY-MM-DD"),
        (["start=2024-06-01", "end=2024-01-01"], "end: must be on or after start"),
        (["medium=Moon rock"], "mediums: unknown medium 'Moon rock'"),
        (["user_id=nobody"], "user_id: expected a UUID"),
        (["user_id=00000000-0000-4000-8000-000000000000"], "user_id: no user has id"),
        (["start=2024-01-01", "start=2024-02-01"], "start: given more than once"),
        (["status=stolen"], "status: "),
    ],
)
def test_bad_parameters_fail_before_any_cell_runs(
    seeded_db: Database, tmp_path: Path, params: list[str], message: str
) -> None:
    out = tmp_path / "report.html"
    arguments = [part for param in params for part in ("--param", param)]
    result = run_cli("report", "--out", str(out), *arguments, database_url=seeded_db.url)
    assert result.returncode == 2
    assert _errors(result.stderr).startswith(f"error: {message}")
    assert _errors(result.stderr).count("\n") == 1  # one line, no traceback
    assert not out.with_suffix(".ipynb").exists()  # nothing was executed
    assert not out.exists()


def test_a_failing_cell_names_it_and_keeps_the_executed_notebook(
    seeded_db: Database, tmp_path: Path
) -> None:
    notebook = nbformat.read(notebooks_dir() / "04-report.ipynb", as_version=4)
    notebook.cells.insert(
        4, nbformat.v4.new_code_cell('raise RuntimeError("the revenue looks wrong")')
    )
    broken = tmp_path / "broken-report.ipynb"
    nbformat.write(notebook, broken)
    out = tmp_path / "out" / "report.html"

    result = run_cli(
        "report",
        "--notebook",
        str(broken),
        "--out",
        str(out),
        "--no-progress",
        database_url=seeded_db.url,
    )
    assert result.returncode == 1
    error = result.stderr.strip().splitlines()[-1]
    assert re.match(
        r"error: report cell \d+ failed with RuntimeError: the revenue looks wrong", error
    )
    assert str(out.with_suffix(".ipynb")) in error
    kept = json.loads(out.with_suffix(".ipynb").read_text(encoding="utf-8"))
    assert any(
        o.get("ename") == "RuntimeError" for c in kept["cells"] for o in c.get("outputs", [])
    )
    assert not out.exists()


def test_out_must_be_html(seeded_db: Database, tmp_path: Path) -> None:
    result = run_cli("report", "--out", str(tmp_path / "report.pdf"), database_url=seeded_db.url)
    assert result.returncode == 2
    assert "out: expected a path ending in .html" in result.stderr


# -- output files: never replace what this run did not create (issue 10 #4, #14) -------------


def test_report_never_replaces_an_existing_executed_notebook(
    seeded_db: Database, tmp_path: Path
) -> None:
    kept = tmp_path / "analysis.ipynb"
    kept.write_text("my own analysis", encoding="utf-8")
    out = tmp_path / "analysis.html"
    result = run_cli("report", "--out", str(out), "--no-progress", database_url=seeded_db.url)
    assert result.returncode == 2, result.stderr
    assert _errors(result.stderr).count("\n") == 1, result.stderr
    assert str(kept) in result.stderr
    assert "--force" in result.stderr
    assert kept.read_text(encoding="utf-8") == "my own analysis"
    assert not out.exists()


@pytest.mark.parametrize("force", [[], ["--force"]])
def test_report_never_writes_over_its_template(seeded_db: Database, force: list[str]) -> None:
    template = notebooks_dir() / "04-report.ipynb"
    before = template.read_bytes()
    out = notebooks_dir() / "04-report.html"
    result = run_cli(
        "report", "--out", str(out), "--no-progress", *force, database_url=seeded_db.url
    )
    assert result.returncode == 2, result.stderr
    assert "input or template" in result.stderr
    assert _errors(result.stderr).count("\n") == 1, result.stderr
    assert template.read_bytes() == before
    assert not out.exists()


@pytest.mark.parametrize(
    ("make_out", "fragment"),
    [
        (lambda tmp: tmp, "is a directory"),
        (lambda tmp: Path("/dev/null/x.html"), "/dev/null is not a directory"),
        (lambda tmp: Path("/dev/null/deeper/x.html"), "/dev/null is not a directory"),
    ],
    ids=["directory", "below-dev-null", "deeper-below-dev-null"],
)
@pytest.mark.parametrize("command", ["report", "demo"])
def test_unwritable_out_is_one_line(
    seeded_db: Database, tmp_path: Path, make_out: Any, fragment: str, command: str
) -> None:
    out = make_out(tmp_path)
    if out == tmp_path:
        out = tmp_path / "folder.html"
        out.mkdir()
    result = run_cli(command, "--out", str(out), database_url=seeded_db.url)
    assert result.returncode == 2, result.stderr
    assert _errors(result.stderr).startswith("error: out: ")
    assert fragment in result.stderr
    assert _errors(result.stderr).count("\n") == 1, result.stderr


def test_force_replaces_the_outputs_of_an_earlier_run(seeded_db: Database, tmp_path: Path) -> None:
    out = tmp_path / "again.html"
    out.write_text("old", encoding="utf-8")
    out.with_suffix(".ipynb").write_text("old", encoding="utf-8")
    result = run_cli(
        "report", "--out", str(out), "--no-progress", "--force", database_url=seeded_db.url
    )
    assert result.returncode == 0, result.stderr
    assert "Plotly.newPlot(" in out.read_text(encoding="utf-8")


# -- a report whose panels fail is a failure (issue 10 #12, #14) -------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://analyst:wrong@127.0.0.1:1/gallery",
        "postgresql://analyst@127.0.0.1:1/gallery?password=wrong",
    ],
    ids=["closed-port", "closed-port-query-password"],
)
@pytest.mark.parametrize("command", [["report"], ["notebooks", "01-quickstart"]])
def test_unreachable_database_is_one_line_and_no_report(
    tmp_path: Path, url: str, command: list[str]
) -> None:
    out = tmp_path / "r.html"
    extra = ["--out", str(out), "--no-progress"] if command == ["report"] else []
    result = run_cli(*command, *extra, env={"GALLERY_DATABASE_URL": url})
    assert result.returncode == 1, result.stderr
    assert _errors(result.stderr).startswith("error: ")
    assert "Traceback" not in result.stderr
    assert _errors(result.stderr).count("\n") == 1, result.stderr
    assert "wrong" not in result.stderr
    assert not out.exists()


def test_failed_panels_fail_the_report_unless_partial_is_allowed(
    seeded_db: Database, tmp_path: Path
) -> None:
    """Panels that fail inside the kernel (its database went away after the parameters
    were checked) fail the command; --allow-partial writes the report and names them."""
    notebook = nbformat.read(notebooks_dir() / "04-report.ipynb", as_version=4)
    notebook.cells[2].source = notebook.cells[2].source.replace(
        "db = await ga.connect()", 'db = ga.Database("postgresql://nobody@127.0.0.1:1/nowhere")'
    )
    assert "127.0.0.1:1" in notebook.cells[2].source
    broken = tmp_path / "panels-fail.ipynb"
    nbformat.write(notebook, broken)
    out = tmp_path / "strict" / "r.html"
    result = run_cli(
        "report",
        "--notebook",
        str(broken),
        "--out",
        str(out),
        "--no-progress",
        database_url=seeded_db.url,
    )
    assert result.returncode == 1, result.stderr
    error = result.stderr.strip().splitlines()[-1]
    assert re.match(r"error: \d+ of \d+ report panels failed", error), error
    assert "--allow-partial" in error
    assert not out.exists()

    partial = tmp_path / "partial" / "r.html"
    result = run_cli(
        "report",
        "--notebook",
        str(broken),
        "--out",
        str(partial),
        "--no-progress",
        "--allow-partial",
        database_url=seeded_db.url,
    )
    assert result.returncode == 0, result.stderr
    assert "warning: partial report" in result.stderr
    assert "Panels that failed:</strong> 7" in partial.read_text(encoding="utf-8")


async def test_each_panels_notes_are_shown_under_it(fresh_db: Database, tmp_path: Path) -> None:
    """What a panel left out (here: sales in USD in months without a USD rate) is said
    under that panel in the report, in the service's words, escaped."""
    import asyncio
    import html as markup

    from sqlalchemy import text

    from gallery_analytics.services.dashboard import DashboardService

    async with fresh_db.write_session() as session:
        await session.execute(
            text(
                "DELETE FROM exchange_rates WHERE currency = 'USD' "
                "AND month BETWEEN '2024-02-01' AND '2024-03-01'"
            )
        )
    filters = OverviewFilters(start="2024-01-01", end="2024-06-30")
    overview = await DashboardService(fresh_db).get_gallery_overview(filters)
    noted = {name: result.notes for name, result in overview.panels.items() if result.notes}
    assert "monthly_revenue" in noted, "the service notes the excluded sales"
    out = tmp_path / "notes.html"
    result = await asyncio.to_thread(
        run_cli,
        "report",
        "--out",
        str(out),
        "--no-progress",
        "--param",
        "start=2024-01-01",
        "--param",
        "end=2024-06-30",
        database_url=fresh_db.url,
    )
    assert result.returncode == 0, result.stderr
    page = await asyncio.to_thread(out.read_text, encoding="utf-8")
    shown = dict(re.findall(r'<ul class="gallery-panel-notes" data-panel="(\w+)">(.*?)</ul>', page))
    assert set(shown) == set(noted)
    for name, notes in noted.items():
        items = re.findall(r'<li class="gallery-panel-note" role="note">(.*?)</li>', shown[name])
        assert items == [markup.escape(note) for note in notes]
    # Under its own panel: after the revenue chart (chart-1), before the next chart.
    notes_at = page.index('data-panel="monthly_revenue">')
    assert page.index('id="chart-1"') < notes_at < page.index('id="chart-2"')


# -- filters <-> report parameters: one mapping (no database) ----------------------------------

TODAY = dt.date(2025, 11, 15)  # the demo's today: the default period is 2024


def test_report_parameters_from_filters_and_back() -> None:
    """The one home of the mapping the widget's export, notebook 04 and check_parameters
    each wrote before: mediums joined and split at commas, the default period filled in."""
    filters = OverviewFilters(mediums=["Oil", "Print"], status="sold", start="2024-03-01")
    parameters = ReportParameters.from_filters(filters, today=TODAY)
    assert parameters == ReportParameters(
        start=dt.date(2024, 3, 1), end=dt.date(2024, 12, 31), medium="Oil,Print", status="sold"
    )
    assert parameters.for_papermill()["medium"] == "Oil,Print"
    back = parameters.filters()
    assert (back.start, back.end) == (dt.date(2024, 3, 1), dt.date(2024, 12, 31))
    assert back.mediums == ("Oil", "Print")
    assert back.status is not None
    assert back.status.value == "sold"
    assert ReportParameters.from_filters(back, today=TODAY) == parameters


def test_report_parameters_parse_what_papermill_and_the_cli_give() -> None:
    parsed = ReportParameters.parse(
        {"start": None, "end": None, "user_id": None, "medium": " Oil , Print,", "status": None},
        today=TODAY,
    )
    assert parsed == ReportParameters(
        start=dt.date(2024, 1, 1), end=dt.date(2024, 12, 31), medium="Oil,Print"
    )
    assert ReportParameters.parse({"start": "2024-06-01"}, today=TODAY).end == dt.date(2024, 12, 31)
    with pytest.raises(ValidationError, match=r"^start: expected a date as YYYY-MM-DD"):
        ReportParameters.parse({"start": "2024-13-01"}, today=TODAY)
    with pytest.raises(ValidationError, match=r"^end: must be on or after start"):
        ReportParameters.parse({"start": "2024-06-01", "end": "2024-01-01"}, today=TODAY)
    with pytest.raises(ValidationError, match=r"^colour: unknown report parameter"):
        ReportParameters.parse({"colour": "red"}, today=TODAY)


# -- the report shows what the view shows: its currency and its artist (issue 12) -------------

PERIOD = ("2024-01-01", "2024-06-30")
TOP_ARTISTS_COLUMNS = ["rank", "artist", "nationality", "sales", "revenue", "share"]  # cell 4


def _table(page: str, panel: str) -> list[str]:
    """The text of each heading and cell of a panel's table (nbconvert re-serialises the
    markup it exports, attributes and entities, so the markup itself is not compared)."""
    found = re.search(rf'<table class="gallery-table" data-panel="{panel}">.*?</table>', page, re.S)
    assert found is not None, f"no {panel} table in the report"
    cells = re.findall(r"<t[hd](?:\s[^>]*)?>(.*?)</t[hd]>", found.group(0), re.S)
    return [html.unescape(cell) for cell in cells]


def _chart_data(page: str, number: int) -> list[dict[str, Any]]:
    """The traces plotly draws as chart-``number`` of the report (its JSON argument)."""
    call = re.search(rf'Plotly\.newPlot\(\s*"chart-{number}",\s*', page)
    assert call is not None, f"no chart-{number} in the report"
    traces, _ = json.JSONDecoder().raw_decode(page, call.end())
    assert isinstance(traces, list)
    return traces


def _numbers(values: Any) -> list[float]:
    """A trace's values, whether plotly wrote a list or a typed array ({dtype, bdata})."""
    if isinstance(values, dict):
        import base64

        import numpy as np

        return [float(v) for v in np.frombuffer(base64.b64decode(values["bdata"]), values["dtype"])]
    return [float(v) for v in values]


async def test_a_report_in_gbp_shows_the_services_gbp_revenue(
    seeded_db: Database, tmp_path: Path
) -> None:
    """The dashboard in GBP exported a report in EUR, silently: the report now takes the
    currency, and its revenue tiles, table and chart are the service's GBP overview."""
    import asyncio

    from gallery_analytics import panels
    from gallery_analytics.services.dashboard import DashboardService

    out = tmp_path / "gbp.html"
    result = await asyncio.to_thread(
        run_cli,
        "report",
        "--out",
        str(out),
        "--no-progress",
        "--param",
        f"start={PERIOD[0]}",
        "--param",
        f"end={PERIOD[1]}",
        "--currency",
        "GBP",
        database_url=seeded_db.url,
    )
    assert result.returncode == 0, result.stderr
    page = await asyncio.to_thread(out.read_text, encoding="utf-8")
    service = DashboardService(seeded_db)
    gbp = await service.get_gallery_overview(
        OverviewFilters(start=PERIOD[0], end=PERIOD[1], currency="GBP")
    )
    eur = await service.get_gallery_overview(OverviewFilters(start=PERIOD[0], end=PERIOD[1]))
    assert gbp["key_figures"].rows[0]["revenue"] != eur["key_figures"].rows[0]["revenue"]

    assert _table(page, "key_figures") == _table(
        panels.table_html(gbp["key_figures"]), "key_figures"
    )
    assert _table(page, "top_artists") == _table(
        panels.table_html(gbp["top_artists"], columns=TOP_ARTISTS_COLUMNS), "top_artists"
    )
    assert "Revenue (GBP)" in _table(page, "key_figures")
    assert "Revenue (GBP)" in _table(page, "top_artists")
    assert "(EUR)" not in page
    # The monthly revenue chart (the registry's first chart) draws the GBP amounts.
    (bars,) = _chart_data(page, 1)
    assert _numbers(bars["y"]) == pytest.approx(
        [float(row["revenue"]) for row in gbp["monthly_revenue"].rows]
    )
    assert "Amounts in:</strong> GBP (converted at monthly exchange rates)" in page
    assert f"<title>Gallery report, {PERIOD[0]} to {PERIOD[1]}, in GBP</title>" in page
    injected = await asyncio.to_thread(nbformat.read, out.with_suffix(".ipynb"), as_version=4)
    assert 'currency = "GBP"' in "".join(
        cell.source for cell in injected.cells if "injected-parameters" in cell.metadata.tags
    )


async def test_a_report_on_one_artist_names_the_artist_and_shows_only_their_works(
    fresh_db: Database, tmp_path: Path
) -> None:
    """A view narrowed to one artist exported a report on all artists: the report now
    takes the artist, says who it is by name (escaped, the name being data) and shows
    what the service shows for that artist."""
    import asyncio
    import html as markup

    from sqlalchemy import text

    from gallery_analytics import panels
    from gallery_analytics.services.dashboard import DashboardService

    name = '<img src=x onerror="alert(1)"> *Frida* & [Co](http://x)'
    async with fresh_db.write_session() as session:
        artist_id = str(
            await session.scalar(
                text(
                    "SELECT a.artist_id FROM sales s JOIN artworks a ON a.id = s.artwork_id "
                    "WHERE s.sold_at >= '2024-01-01' AND s.sold_at < '2024-07-01' "
                    "GROUP BY a.artist_id ORDER BY count(*) DESC, a.artist_id LIMIT 1"
                )
            )
        )
        await session.execute(
            text("UPDATE artists SET name = :name WHERE id = :id"), {"name": name, "id": artist_id}
        )
    out = tmp_path / "artist.html"
    result = await asyncio.to_thread(
        run_cli,
        "report",
        "--out",
        str(out),
        "--no-progress",
        "--param",
        f"start={PERIOD[0]}",
        "--param",
        f"end={PERIOD[1]}",
        "--artist",
        artist_id,
        database_url=fresh_db.url,
    )
    assert result.returncode == 0, result.stderr
    page = await asyncio.to_thread(out.read_text, encoding="utf-8")
    filters = OverviewFilters(start=PERIOD[0], end=PERIOD[1], artist_id=artist_id)
    overview = await DashboardService(fresh_db).get_gallery_overview(filters)
    everyone = await DashboardService(fresh_db).get_gallery_overview(
        OverviewFilters(start=PERIOD[0], end=PERIOD[1])
    )
    assert overview["key_figures"].rows != everyone["key_figures"].rows
    assert _table(page, "key_figures") == _table(
        panels.table_html(overview["key_figures"]), "key_figures"
    )
    assert _table(page, "top_artists") == _table(
        panels.table_html(overview["top_artists"], columns=TOP_ARTISTS_COLUMNS), "top_artists"
    )
    assert [row["artist"] for row in overview["top_artists"].rows] == [name]
    # Named in the heading and the tab, as text: the payload never becomes markup.
    heading = re.search(r"<strong>Period:</strong>(.*?)</p>", page, re.S)
    assert heading is not None
    assert markup.unescape(re.sub(r"<[^>]+>", "", heading.group(1))).startswith(
        f" {PERIOD[0]} to {PERIOD[1]}, artist {name}."
    )
    assert f"<title>Gallery report, {PERIOD[0]} to {PERIOD[1]}, artist " in page
    title = re.search(r"<title>(.*?)</title>", page, re.S)
    assert title is not None
    assert markup.unescape(title.group(1)) == (
        f"Gallery report, {PERIOD[0]} to {PERIOD[1]}, artist {name}, in EUR"
    )
    assert "<img src=x" not in page
    assert '<a href="http://x' not in page  # not even autolinked


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--currency", "gbp"], "currency: expected a currency code such as EUR, got 'gbp'"),
        (["--param", "currency=EURO"], "currency: expected a currency code such as EUR"),
        (["--currency", "XYZ"], "currency: no exchange rates for 'XYZ'; expected one of EUR"),
        (["--currency", "GBP", "--param", "currency=USD"], "currency: given more than once"),
        (["--artist", "Hokusai"], "artist_id: expected a UUID"),
        (["--param", "artist_id=nobody"], "artist_id: expected a UUID"),
        (
            ["--artist", "00000000-0000-4000-8000-000000000000"],
            "artist_id: no artist has id '00000000-0000-4000-8000-000000000000'",
        ),
    ],
    ids=[
        "lower-case",
        "param-four-letters",
        "no-rates",
        "twice",
        "artist-name",
        "param-artist",
        "no-such-artist",
    ],
)
def test_a_bad_currency_or_artist_fails_before_any_cell_runs(
    seeded_db: Database, tmp_path: Path, arguments: list[str], message: str
) -> None:
    out = tmp_path / "report.html"
    result = run_cli("report", "--out", str(out), *arguments, database_url=seeded_db.url)
    assert result.returncode == 2, result.stderr
    assert _errors(result.stderr).startswith(f"error: {message}"), result.stderr
    assert _errors(result.stderr).count("\n") == 1  # one line, no traceback
    assert not out.with_suffix(".ipynb").exists()  # no kernel ran the notebook
    assert not out.exists()
