// The dashboard's plotly.js: plotly's core and only the trace types the gallery's charts
// draw (gallery_analytics/charts.py). 1.2 MB instead of the full bundle's 4.8 MB, which
// each page view would otherwise receive. tests/unit/widgets/test_frontend_files.py and
// tests/integration/widgets/test_dashboard.py check that every trace type a chart panel
// draws is registered here. Rebuild: make plotly-bundle
var Plotly = require("plotly.js/lib/core");

Plotly.register([
  require("plotly.js/lib/bar"),
  require("plotly.js/lib/scatter"),
  require("plotly.js/lib/treemap"),
]);

window.Plotly = Plotly;
