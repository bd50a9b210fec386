"""The served dashboard against hostile links, hostile data and more than one page.

Each test opens the app as ``gallery-analytics dashboard`` serves it, in headless
Chromium. Whatever the link or the data holds, nothing of it may run as script or
become markup in the page; the page must stay usable and, once it shows a view, show
the service's answer for the filters it says it shows.
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from gallery_analytics import serving
from gallery_analytics.db.database import Database
from gallery_analytics.db.models import Artist
from gallery_analytics.frames import to_frame
from gallery_analytics.services.dashboard import DashboardService
from tests.browser.dashboard_page import DashboardPage, ServiceOracle
from tests.browser.harness import ServedDashboard, serve_dashboard

TIMEOUT = 90.0
SPRING = {"start": "2024-03-01", "end": "2024-06-30"}
PWNED = "() => window.pwned === undefined"
XSS_IMG = "<img src=x onerror=window.pwned=1>"
XSS_SVG = "<svg/onload=window.pwned=1>"
XSS_SCRIPT = "</script><script>window.pwned=1</script>"

# Markup a page of the dashboard makes itself: anything else inside it was injected.
INJECTED = """() => [...document.querySelectorAll(
    '.gallery-dashboard img, .gallery-dashboard script, .gallery-dashboard iframe,'
    + ' .gallery-dashboard object, .gallery-dashboard embed,'
    + ' .gallery-dashboard a[href^="javascript"],'
    + ' .gallery-dashboard [onerror], .gallery-dashboard [onload], .gallery-dashboard [onclick]'
)].map(e => e.outerHTML)"""


def _open(browser: Any, url: str) -> DashboardPage:
    page = browser.new_context(accept_downloads=True).new_page()
    page.set_default_timeout(TIMEOUT * 1000)
    dashboard = DashboardPage(page)
    page.goto(url, timeout=TIMEOUT * 1000)
    return dashboard


def _settled(page: DashboardPage) -> None:
    """Until the status line has a state other than loading."""
    page.page.wait_for_function(
        """() => {
            const s = document.querySelector('.gallery-status-line');
            return s && s.dataset.state && s.dataset.state !== 'loading';
        }""",
        timeout=TIMEOUT * 1000,
    )


@pytest.mark.parametrize(
    "hostile",
    [
        pytest.param({**SPRING, "start": XSS_IMG}, id="start"),
        pytest.param({**SPRING, "end": XSS_SVG}, id="end"),
        pytest.param({**SPRING, "medium": [XSS_IMG, XSS_SCRIPT]}, id="medium-repeated"),
        pytest.param({**SPRING, "user": XSS_IMG}, id="user"),
        pytest.param({**SPRING, "currency": XSS_IMG}, id="currency"),
        pytest.param({**SPRING, "select": f'{XSS_IMG}:{{"month":"2024-03"}}'}, id="select-panel"),
        pytest.param(
            {**SPRING, "select": f'monthly_revenue:{{"month":"2024-03","{XSS_SVG}":"x"}}'},
            id="select-key",
        ),
        pytest.param(
            {**SPRING, "select": 'monthly_revenue:{"month":{"__proto__":{"x":1}}}'},
            id="select-proto",
        ),
        pytest.param(
            {**SPRING, "select": ["monthly_revenue:not json", "top_artists:[1,2]", ":{}"]},
            id="select-malformed",
        ),
    ],
)
def test_a_hostile_link_in_any_parameter_is_a_sentence_never_markup(
    served_dashboard: ServedDashboard, oracle: ServiceOracle, browser: Any, hostile: dict[str, Any]
) -> None:
    """Every URL parameter the page reads, with markup or malformed values: nothing runs,
    nothing becomes an element, the status says what is wrong, and fixing the filters
    through the page gives the service's view."""
    query = urllib.parse.urlencode(hostile, doseq=True)
    page = _open(browser, f"{served_dashboard.url}?{query}")
    _settled(page)
    page.page.wait_for_timeout(500)  # anything an injected handler would do, done
    assert page.page.evaluate(PWNED)
    assert page.page.evaluate(INJECTED) == []
    # The tab title states the period shown, not text the link made up (a link could
    # make the app's own title say anything).
    assert "<" not in page.page.title(), page.page.title()
    page.page.locator(".gallery-clear").click(force=True)
    page.set_date("start", dt.date(2024, 3, 1))
    page.set_date("end", dt.date(2024, 6, 30))
    page.page.select_option(".gallery-currency select", "EUR")
    page.set_mediums([])
    page.set_user(None)
    page.set_status("sold")
    page.wait_for(
        oracle.view({**SPRING, "status": "sold"}), timeout=TIMEOUT, what="fixing the link"
    )
    assert page.page.evaluate(PWNED)


@pytest.fixture
async def hostile_db(fresh_db: Database) -> Database:
    """A private copy of the demo data whose five best-selling artists of spring 2024
    have names that are markup."""
    overview = await DashboardService(fresh_db).get_gallery_overview(SPRING)
    ids = [str(i) for i in to_frame(overview["top_artists"])["artist_id"].iloc[:5]]
    names = [
        XSS_IMG,
        XSS_SVG,
        XSS_SCRIPT,
        '<a href="javascript:window.pwned=1">click</a>',
        "<b onmouseover=window.pwned=1>bold</b>&amp;",
    ]
    async with fresh_db.write_session() as session:
        for artist_id, name in zip(ids, names, strict=True):
            await session.execute(update(Artist).where(Artist.id == artist_id).values(name=name))
    return fresh_db


@pytest.fixture
def served_hostile(hostile_db: Database, tmp_path: Path) -> Iterator[ServedDashboard]:
    with serve_dashboard(hostile_db.url, tmp_path / "voila.log") as served:
        yield served


def test_hostile_artist_names_reach_the_page_only_as_text(
    served_hostile: ServedDashboard, hostile_db: Database, browser: Any
) -> None:
    """Artist names are data: in the chart's axis and hover labels, its table, the chip
    of a click on an artist, they are text."""
    page = _open(browser, f"{served_hostile.url}?{urllib.parse.urlencode(SPRING)}")
    with ServiceOracle(hostile_db.url) as oracle:
        page.wait_for(oracle.view(SPRING), timeout=TIMEOUT, what="opening spring")
    bars = page.page.locator(".gallery-chart[data-panel='top_artists'] .point path")
    for index in range(min(5, bars.count())):
        bars.nth(index).hover(force=True)  # hover labels draw the names too
        page.page.wait_for_timeout(200)
    for details in page.page.locator(".gallery-chart-table summary").all():
        details.click()
    bars.nth(0).click(force=True)  # a chip labelled with the artist's name
    page.page.wait_for_function(
        "() => document.querySelectorAll('.gallery-chip').length === 1", timeout=TIMEOUT * 1000
    )
    _settled(page)
    page.page.wait_for_timeout(500)
    assert page.page.evaluate(PWNED)
    assert page.page.evaluate(INJECTED) == []
    assert "onerror" in page.page.inner_text(".gallery-chart[data-panel='top_artists'] table")
    assert page.unexpected_problems() == []


def test_two_pages_on_one_server_do_not_share_filters(
    seeded_db: Database, oracle: ServiceOracle, browser: Any, tmp_path: Path
) -> None:
    """Each page has its own kernel: a change in one never shows in the other, and each
    shows the service's view for its own filters. Served with a password in the
    database URL (the test server ignores it): neither page, nor the log, carries it."""
    secret = "s3cret-hostile-pw"
    with serve_dashboard(seeded_db.url.set(password=secret), tmp_path / "voila.log") as served:
        first = _open(browser, f"{served.url}?{urllib.parse.urlencode(SPRING)}")
        second = _open(
            browser, f"{served.url}?{urllib.parse.urlencode({**SPRING, 'status': 'sold'})}"
        )
        first.wait_for(oracle.view(SPRING), timeout=TIMEOUT, what="opening the first page")
        second.wait_for(
            oracle.view({**SPRING, "status": "sold"}), timeout=TIMEOUT, what="opening the second"
        )
        first.set_status("available")
        second.set_status("reserved")
        first.wait_for(
            oracle.view({**SPRING, "status": "available"}),
            timeout=TIMEOUT,
            what="first: available",
        )
        second.wait_for(
            oracle.view({**SPRING, "status": "reserved"}), timeout=TIMEOUT, what="second: reserved"
        )
        # A kernel per page, plus the preheated one waiting for the next page.
        pooled = 1 if serving.PREHEAT_DEFAULT else 0
        assert len(served.kernels()) == 2 + pooled
        for page in (first, second):
            assert secret not in page.page.content()
            assert secret not in page.page.url
            assert page.unexpected_problems() == []
        with first.page.expect_download(timeout=TIMEOUT * 1000) as rows:
            first.page.locator(".gallery-rows").click()
        assert secret.encode() not in Path(rows.value.path()).read_bytes()
        log = served.log.read_text(errors="replace")
    assert secret not in log


def test_a_period_with_no_data_draws_every_chart_empty(
    served_dashboard: ServedDashboard, oracle: ServiceOracle, browser: Any
) -> None:
    """A period before any data: every chart is drawn (empty), no chart is in an error
    state, and the page says so in text, not a broken plot."""
    empty = {"start": "1990-01-01", "end": "1990-12-31"}
    page = _open(browser, f"{served_dashboard.url}?{urllib.parse.urlencode(empty)}")
    page.wait_for(oracle.view(empty), timeout=TIMEOUT, what="opening 1990")
    states = page.page.eval_on_selector_all(
        ".gallery-chart", "cards => cards.map(c => [c.dataset.panel, c.dataset.state])"
    )
    assert states
    assert all(state == "ok" for _, state in states), states
    assert page.page.locator(".gallery-status-line").get_attribute("data-state") == "ok"
    assert page.unexpected_problems() == []


def test_download_spam_in_the_page_gives_one_file(
    served_dashboard: ServedDashboard, browser: Any
) -> None:
    """Ten clicks on "Download sales" while the first is prepared: one file, and the
    page is told the others were not started."""
    page = _open(browser, f"{served_dashboard.url}?{urllib.parse.urlencode(SPRING)}")
    _settled(page)
    downloads: list[Any] = []
    page.page.on("download", lambda download: downloads.append(download))
    page.page.evaluate(
        """() => { window.statuses = [];
            new MutationObserver(() => window.statuses.push(
                document.querySelector('.gallery-status-line').textContent))
            .observe(document.querySelector('.gallery-status-line'),
                     {childList: true, characterData: true, subtree: true}); }"""
    )
    # Ten clicks in one go (a script, or a double-clicking analyst on a slow link): all
    # arrive while the first download is being prepared.
    page.page.evaluate(
        "() => { for (let i = 0; i < 10; i++) document.querySelector('.gallery-rows').click(); }"
    )
    for _ in range(int(TIMEOUT * 10)):
        if downloads:
            break
        page.page.wait_for_timeout(100)
    page.page.wait_for_timeout(3000)  # any further download would have arrived by now
    history = page.page.evaluate("() => window.statuses")
    assert len(downloads) == 1, ([d.suggested_filename for d in downloads], history)
    assert page.unexpected_problems() == []
