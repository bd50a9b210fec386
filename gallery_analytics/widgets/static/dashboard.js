// The gallery dashboard's page side (anywidget module). See widgets/dashboard.py.
//
// Loading this module must be quick: anywidget gives it two seconds. plotly.js arrives
// as the `plotly_source` trait and is evaluated lazily, once per page, by the first
// render; nothing waits on a deadline. Every chart, tile and table is drawn from the
// `view` trait, one consistent answer to one set of filters; the root element's
// `data-generation` says which view is on screen once all of its charts are drawn.
// Text from the data is only ever set as textContent; the tables arrive escaped.

const CONTROL_KEYS = ["start", "end", "mediums", "status", "user_id", "currency"];
const URL_KEYS = { start: "start", end: "end", mediums: "medium", status: "status", user_id: "user", currency: "currency" };
const DARK = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;

let plotlyLoading = null;

function loadPlotly(source) {
  if (window.Plotly && window.Plotly.react) return Promise.resolve(window.Plotly);
  if (plotlyLoading === null) {
    plotlyLoading = new Promise((resolve, reject) => {
      const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
      const script = document.createElement("script");
      script.src = url;
      script.async = true;
      script.onload = () => {
        URL.revokeObjectURL(url);
        if (window.Plotly) return resolve(window.Plotly);
        plotlyLoading = null;
        reject(new Error("plotly.js did not load"));
      };
      script.onerror = () => {
        URL.revokeObjectURL(url);
        plotlyLoading = null;
        reject(new Error("plotly.js did not load"));
      };
      document.head.appendChild(script);
    });
  }
  return plotlyLoading;
}

function element(tag, attributes = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

// JSON with sorted keys: the kernel and the page compare filters by value.
function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object") {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

function download(filename, blob) {
  const link = element("a", { href: URL.createObjectURL(blob), download: filename });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
}

function darkLayout(layout) {
  const grid = { gridcolor: "#3a3f47", zerolinecolor: "#565c66", linecolor: "#565c66" };
  const axes = {};
  for (const key of Object.keys(layout)) if (/^[xy]axis\d*$/.test(key)) axes[key] = { ...layout[key], ...grid };
  return {
    ...layout,
    ...axes,
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "rgba(0,0,0,0)",
    font: { ...(layout.font || {}), color: "#e6e6e6" },
    title: { ...(layout.title || {}), font: { ...((layout.title || {}).font || {}), color: "#f2f2f2" } },
  };
}

function urlControls(search) {
  const params = new URLSearchParams(search);
  const controls = {};
  for (const [key, name] of Object.entries(URL_KEYS)) {
    if (key === "mediums") {
      if (params.has(name)) controls.mediums = params.getAll(name);
    } else if (params.has(name)) controls[key] = params.get(name);
  }
  const selections = [];
  for (const raw of params.getAll("select")) {
    const cut = raw.indexOf(":");
    if (cut <= 0) continue;
    try {
      selections.push({ panel: raw.slice(0, cut), filter: JSON.parse(raw.slice(cut + 1)) });
    } catch (error) {
      console.warn("[gallery] ignoring a malformed cross-filter in the URL");
    }
  }
  return { controls, selections, any: Object.keys(controls).length > 0 || selections.length > 0 };
}

function urlSearch(controls, selections) {
  const params = new URLSearchParams();
  for (const [key, name] of Object.entries(URL_KEYS)) {
    const value = controls[key];
    // Empty dates are kept ("start="): absent ones would reopen on the default period.
    if (Array.isArray(value)) value.forEach((item) => params.append(name, item));
    else if (value || key === "start" || key === "end") params.set(name, value || "");
  }
  for (const s of selections) params.append("select", `${s.panel}:${JSON.stringify(s.filter)}`);
  return params.toString();
}

function render({ model, el }) {
  const root = element("div", { class: "gallery-dashboard", "data-generation": "-1" });
  el.append(root);
  const disposers = [];
  const listen = (target, event, handler) => {
    target.addEventListener(event, handler);
    disposers.push(() => target.removeEventListener(event, handler));
  };
  const onModel = (event, handler) => {
    model.on(event, handler);
    disposers.push(() => model.off(event, handler));
  };

  // -- controls -------------------------------------------------------------------------
  const uid = Math.random().toString(36).slice(2, 8);
  const field = (name, label, control) => {
    control.id = `gallery-${name}-${uid}`;
    return element("div", { class: `gallery-field gallery-${name}` }, [
      element("label", { for: control.id, text: label }),
      control,
    ]);
  };
  const inputs = {
    start: element("input", { type: "date" }),
    end: element("input", { type: "date" }),
    mediums: element("select", { multiple: "", size: "4" }),
    status: element("select"),
    user_id: element("select"),
    currency: element("select"),
  };
  const choices = model.get("choices") || {};
  const option = (value, text) => element("option", { value, text });
  for (const medium of choices.mediums || []) inputs.mediums.append(option(medium, medium));
  inputs.status.append(option("", "(all)"));
  for (const [value, text] of choices.statuses || []) inputs.status.append(option(value, text));
  inputs.user_id.append(option("", "(all)"));
  for (const [value, text] of choices.users || []) inputs.user_id.append(option(value, text));
  for (const currency of choices.currencies || []) inputs.currency.append(option(currency, currency));

  const exportButton = element("button", { type: "button", class: "gallery-export", text: "Export report (HTML)" });
  const rowsButton = element("button", { type: "button", class: "gallery-rows", text: "Download sales (Parquet)" });
  const clearButton = element("button", { type: "button", class: "gallery-clear", text: "Clear all filters" });
  const refreshButton = element("button", { type: "button", class: "gallery-refresh", text: "Refresh", title: "Read every panel from the database, not the cache" });
  const chips = element("div", { class: "gallery-chips", "aria-label": "Active cross-filters" });
  const status = element("div", { class: "gallery-status-line", role: "status", "aria-live": "polite" });
  const downloadStatus = element("div", { class: "gallery-download-status", role: "status", "aria-live": "polite" });
  const tiles = element("div", { class: "gallery-tiles" });
  const tileNotes = element("ul", { class: "gallery-notes gallery-tile-notes" });
  const grid = element("div", { class: "gallery-grid" });
  const tables = element("div", { class: "gallery-tables" });

  root.append(
    element("form", { class: "gallery-controls", "aria-label": "Filters" }, [
      field("start", "From", inputs.start),
      field("end", "To", inputs.end),
      field("mediums", "Medium", inputs.mediums),
      field("status", "Status", inputs.status),
      field("user", "User", inputs.user_id),
      field("currency", "Currency", inputs.currency),
      element("div", { class: "gallery-actions" }, [exportButton, rowsButton, clearButton, refreshButton, downloadStatus]),
    ]),
    chips,
    status,
    tiles,
    tileNotes,
    grid,
    tables,
  );

  const readControls = () => ({
    start: inputs.start.value,
    end: inputs.end.value,
    mediums: Array.from(inputs.mediums.selectedOptions, (o) => o.value),
    status: inputs.status.value,
    user_id: inputs.user_id.value,
    currency: inputs.currency.value,
  });
  const showControls = () => {
    const controls = model.get("controls") || {};
    inputs.start.value = controls.start || "";
    inputs.end.value = controls.end || "";
    const chosen = new Set(controls.mediums || []);
    for (const o of inputs.mediums.options) o.selected = chosen.has(o.value);
    inputs.status.value = controls.status || "";
    inputs.user_id.value = controls.user_id || "";
    if (controls.currency && ![...inputs.currency.options].some((o) => o.value === controls.currency)) {
      inputs.currency.append(option(controls.currency, controls.currency));
    }
    inputs.currency.value = controls.currency || "";
  };
  const asked = () => canonical({ controls: model.get("controls"), selections: model.get("selections") });
  // Pending: the controls ask for something no view answers yet. An error answering
  // them (refused filters) ends the wait too; the cards then say they are not current.
  const markPending = () => {
    const wanted = asked();
    const current = (model.get("view") || {}).asked;
    const status = model.get("status") || {};
    const refused = status.state === "error" && status.asked && canonical(status.asked) === wanted;
    const pending = !refused && (!current || canonical(current) !== wanted);
    root.classList.toggle("gallery-pending", pending);
    for (const card of grid.children) {
      card.setAttribute("aria-busy", String(pending));
      card.classList.toggle("gallery-not-current", refused);
    }
  };

  for (const key of CONTROL_KEYS) {
    listen(inputs[key], "change", () => {
      model.set("controls", { ...(model.get("controls") || {}), ...readControls() });
      model.save_changes();
      markPending();
    });
  }
  listen(root.querySelector("form"), "submit", (event) => event.preventDefault());
  listen(exportButton, "click", () => model.send({ type: "download", what: "report" }));
  listen(rowsButton, "click", () => model.send({ type: "download", what: "rows" }));
  listen(refreshButton, "click", () => model.send({ type: "refresh" }));
  listen(clearButton, "click", () => {
    model.set("selections", []);
    model.save_changes();
    markPending();
  });

  // -- cross-filter chips ---------------------------------------------------------------
  const showChips = () => {
    chips.replaceChildren();
    const selections = model.get("selections") || [];
    clearButton.disabled = selections.length === 0;
    for (const [index, selection] of selections.entries()) {
      const remove = element("button", { type: "button", class: "gallery-chip-remove", "aria-label": `Remove ${selection.label || "filter"}`, text: "×" });
      remove.addEventListener("click", () => {
        model.set("selections", (model.get("selections") || []).filter((_, i) => i !== index));
        model.save_changes();
        markPending();
      });
      chips.append(element("span", { class: "gallery-chip", "data-panel": selection.panel }, [
        element("span", { text: selection.label || selection.panel }), remove,
      ]));
    }
  };

  // -- the view -------------------------------------------------------------------------
  const cards = new Map();
  const cardFor = (panel) => {
    let card = cards.get(panel.name);
    if (card) return card;
    const heading = element("h2", { class: "gallery-chart-title", text: panel.title });
    const csv = element("button", { type: "button", class: "gallery-csv", text: "CSV" });
    const age = element("span", { class: "gallery-chart-age" });
    const plot = element("div", { class: "gallery-plot", role: "img" });
    const message = element("div", { class: "gallery-chart-message" });
    const notes = element("ul", { class: "gallery-notes" });
    const table = element("div", { class: "gallery-table-body" });
    const details = element("details", { class: "gallery-chart-table" }, [element("summary", { text: "Show as table" }), table]);
    const box = element("section", { class: "gallery-chart", "data-panel": panel.name, "aria-busy": "true" }, [
      element("div", { class: "gallery-chart-header" }, [heading, age, csv]), plot, message, notes, details,
    ]);
    card = { box, heading, age, csv, plot, message, notes, table, panel: null };
    csv.addEventListener("click", () => {
      if (card.panel && card.panel.csv) download(card.panel.filename, new Blob([card.panel.csv], { type: "text/csv" }));
    });
    cards.set(panel.name, card);
    (panel.display === "chart" ? grid : tables).append(box);
    return card;
  };

  const showNotes = (list, notes) => {
    list.replaceChildren(...(notes || []).map((note) => element("li", { text: note })));
  };

  const showTiles = (view) => {
    tiles.replaceChildren();
    for (const tile of view.tiles || []) {
      const value = element("div", { class: "gallery-kpi-value", "data-kpi": tile.key, text: tile.value });
      const box = element("div", { class: "gallery-kpi", title: tile.error || "" }, [
        element("div", { class: "gallery-kpi-heading", text: tile.heading }), value,
      ]);
      tiles.append(box);
    }
    showNotes(tileNotes, view.tile_notes);
  };

  const figureLayout = (figure) => {
    // The card's heading is the title (text, for screen readers too): not drawn twice.
    const layout = { ...(figure.layout || {}), autosize: true, title: { text: "" } };
    if (!layout.template) layout.template = model.get("template"); // sent once, not per chart
    layout.margin = { ...(layout.margin || {}), t: 30 };
    delete layout.width;
    return DARK && DARK.matches ? darkLayout(layout) : layout;
  };

  let drawing = Promise.resolve();
  const showView = async () => {
    const view = model.get("view") || {};
    if (!view.panels) return;
    showTiles(view);
    const draws = [];
    const Plotly = await loadPlotly(model.get("plotly_source"));
    for (const panel of view.panels) {
      const card = cardFor(panel);
      card.panel = panel;
      card.heading.textContent = panel.title;
      card.box.dataset.state = panel.state;
      card.csv.disabled = !panel.csv;
      card.csv.setAttribute("aria-label", `Download ${panel.title} as CSV`);
      card.message.textContent = panel.error || "";
      card.age.textContent = panel.age || ""; // "cached 40 s ago"; empty when read for this view
      showNotes(card.notes, panel.notes);
      card.table.innerHTML = panel.table; // escaped by the kernel (panels.table_html)
      if (panel.display !== "chart") continue;
      card.plot.setAttribute("aria-label", `${panel.title} (chart; the table below has its values)`);
      if (panel.figure && panel.state === "ok") {
        card.plot.hidden = false;
        draws.push(
          Plotly.react(card.plot, panel.figure.data || [], figureLayout(panel.figure), { ...(view.config || {}), responsive: true }).then(() => {
            if (!card.clickable) {
              card.clickable = true;
              card.plot.on("plotly_click", (event) => {
                const point = event && event.points && event.points[0];
                const id = point && (point.id ?? (point.data.ids || [])[point.pointNumber]);
                if (typeof id !== "string" || !id.startsWith("{")) return;
                try {
                  model.send({ type: "select", panel: card.panel.name, filter: JSON.parse(id) });
                  root.classList.add("gallery-pending");
                } catch (error) {
                  console.warn("[gallery] unexpected point id", error);
                }
              });
            }
          }),
        );
      } else {
        card.plot.hidden = true;
        if (window.Plotly && card.plot.data) {
          Plotly.purge(card.plot); // drops the plot's listeners: bind the click again later
          card.clickable = false;
        }
      }
    }
    await Promise.all(draws);
    syncTitle(view);
    root.dataset.generation = String(view.generation);
    markPending();
  };
  const redraw = () => {
    drawing = drawing.then(showView).catch((error) => {
      console.error("[gallery] could not draw the dashboard", error);
      status.textContent = `Could not draw the charts: ${error.message}`;
      status.dataset.state = "error";
    });
  };

  const showStatus = () => {
    const { state = "ok", text = "", at } = model.get("status") || {};
    // The time of an update is shown in the viewer's zone, not the server's.
    const when = at ? ` ${new Date(at).toLocaleTimeString()}` : "";
    status.textContent = `${text}${when}`;
    status.dataset.state = state;
    root.dataset.state = state;
    markPending();
  };

  const syncUrl = () => {
    if (!model.get("url_state")) return;
    const search = urlSearch(model.get("controls") || {}, model.get("selections") || []);
    const target = `${window.location.pathname}${search ? `?${search}` : ""}${window.location.hash}`;
    if (target !== `${window.location.pathname}${window.location.search}${window.location.hash}`) {
      window.history.replaceState(window.history.state, "", target);
    }
  };
  // Served as an app, the tab says what it shows (a bookmark or a shared link too):
  // the period of the view on screen, which the kernel accepted, never a link's text.
  const syncTitle = (view) => {
    if (!model.get("url_state") || !view.asked) return;
    const { start, end } = view.asked.controls || {};
    document.title = `Gallery dashboard · ${start || "all time"} to ${end || "today"}`;
  };

  onModel("change:view", redraw);
  onModel("change:status", showStatus);
  const showDownloadStatus = () => {
    const { state = "ok", text = "" } = model.get("download_status") || {};
    downloadStatus.textContent = text;
    downloadStatus.dataset.state = state;
  };
  onModel("change:download_status", showDownloadStatus);
  onModel("change:controls", () => { showControls(); markPending(); syncUrl(); });
  onModel("change:selections", () => { showChips(); markPending(); syncUrl(); });
  onModel("msg:custom", (message, buffers) => {
    if (message && message.type === "download" && buffers && buffers.length) {
      download(message.filename, new Blob(buffers, { type: message.mime }));
    }
  });
  if (DARK) {
    const onScheme = () => redraw();
    DARK.addEventListener("change", onScheme);
    disposers.push(() => DARK.removeEventListener("change", onScheme));
  }
  const resize = new ResizeObserver(() => {
    if (!window.Plotly) return;
    for (const card of cards.values()) if (card.plot.data && !card.plot.hidden) window.Plotly.Plots.resize(card.plot);
  });
  resize.observe(grid);
  disposers.push(() => resize.disconnect());

  showControls();
  showChips();
  showStatus();
  if (model.get("url_state")) {
    const fromUrl = urlControls(window.location.search);
    if (fromUrl.any) {
      model.set("controls", { ...(model.get("controls") || {}), ...fromUrl.controls });
      if (fromUrl.selections.length) model.set("selections", fromUrl.selections);
      model.save_changes();
      showControls();
      showChips();
    } else {
      syncUrl();
      model.send({ type: "opened" });
    }
  } else {
    model.send({ type: "opened" }); // the kernel refreshes a view it made long ago
  }
  markPending();
  redraw();

  return () => {
    for (const dispose of disposers) dispose();
    if (window.Plotly) for (const card of cards.values()) window.Plotly.purge(card.plot);
  };
}

export default { render };
