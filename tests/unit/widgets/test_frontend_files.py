"""The dashboard's front-end files: the committed plotly.js subset matches the plotly.js
the Python package draws for, and the module anywidget loads stays small (anywidget
gives it two seconds to load; plotly.js must not be inside it)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import plotly.offline  # type: ignore[import-untyped]

from gallery_analytics.widgets.dashboard import PLOTLY_BUNDLE, STATIC

ROOT = Path(__file__).resolve().parents[3]
PACKAGE_JSON = ROOT / "frontend" / "plotly-bundle" / "package.json"
ENTRY = ROOT / "frontend" / "plotly-bundle" / "entry.js"


def test_the_bundle_is_the_plotly_js_version_the_python_package_bundles() -> None:
    """Figures are built by plotly.py for its own plotly.js; the subset must be the same
    version, pinned where it is built and stated in the built file."""
    version = plotly.offline.get_plotlyjs_version()
    pinned = json.loads(PACKAGE_JSON.read_text(encoding="utf-8"))["dependencies"]["plotly.js"]
    assert pinned == version
    banner = PLOTLY_BUNDLE.read_text(encoding="utf-8")[:200]
    assert banner.startswith(f"/* plotly.js {version}:")


def test_the_bundle_registers_the_trace_types_its_entry_names() -> None:
    entry = ENTRY.read_text(encoding="utf-8")
    named = set(re.findall(r'require\("plotly\.js/lib/(\w+)"\)', entry)) - {"core"}
    assert named == {"bar", "scatter", "treemap"}
    source = PLOTLY_BUNDLE.read_text(encoding="utf-8").replace(" ", "")
    for kind in named:
        assert f'moduleType:"trace",name:"{kind}"' in source
    assert 500_000 < len(source) < 2_000_000  # a subset, not the full 4.8 MB bundle


def test_the_widget_module_is_small_and_loads_plotly_lazily() -> None:
    module = (STATIC / "dashboard.js").read_text(encoding="utf-8")
    assert len(module) < 60_000
    assert "plotly_source" in module
    assert "export default" in module
    assert "innerHTML = panel.table" in module  # the one place HTML is set: escaped tables
    assert module.count("innerHTML") == 1
