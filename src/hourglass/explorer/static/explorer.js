/* hourglass explorer: the latent map, an encoder and decoder evaluated in plain JavaScript (or asked of the
   local server), hover-to-decode, click-to-compare, walks between two dots, zoom and pan, a drawing pad,
   search, a lasso and a dot's nearest neighbors. No dependencies. */
"use strict";

// The network's evaluation (b64Float32, makeDecoder, makeEncoder, makeScorer) is network.js's, which page.py
// inlines before this script.

// ---------------------------------------------------------------------------------------- the page
if (typeof document !== "undefined") (function () {
  const D = JSON.parse(document.getElementById("hg-data").textContent);
  const $ = (id) => document.getElementById(id);
  // Every text from the data (labels, names) reaches the page as text nodes, never as markup; the page's CSP
  // (Trusted Types) makes any innerHTML assignment throw, so this is the only way to write.
  const el = (tag, text, className) => {
    const node = document.createElement(tag);
    if (text !== undefined) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  };
  const bold = (text) => el("b", text);
  const n = D.n, k = D.latent_dim, isImage = D.kind === "image";
  const codes = b64Float32(D.codes), view = b64Float32(D.view), errors = b64Float32(D.errors);
  const scOffset = b64Float32(D.scaled_offset), scScale = b64Float32(D.scaled_scale);
  const originals = D.originals.dtype === "uint8" ? b64Bytes(D.originals.data) : b64Float32(D.originals.data);
  const [lo, hi] = D.range;
  const proj = D.projection;
  const local = D.decoder ? makeDecoder(D.decoder) : null;
  const encoder = D.encoder ? makeEncoder(D.encoder) : null;  // in the page: the file's image models
  const inspectHere = encoder ? makeScorer(encoder, local, D.detector) : null;  // a drawing's code, rebuild, score
  const WALK_FRAMES = 60, WALK_MS = 1600, STRIP = 9;

  const codeOf = (i) => Array.from(codes.subarray(i * k, (i + 1) * k));
  const originalOf = (i) => originals.subarray(i * D.n_features, (i + 1) * D.n_features);
  // A full code onto the 2-D view: as page.py projects the dots (PCA when k > 2, y = 0 when k = 1).
  function codeToView(code) {
    if (k === 1) return [code[0], 0];
    if (!proj) return [code[0], code[1]];
    const c = proj.components, centred = proj.mean.map((m, j) => code[j] - m);
    return [0, 1].map((axis) => centred.reduce((acc, v, j) => acc + v * c[axis][j], 0));
  }
  // A point of the 2-D view back to a full code: the view itself, or PCA's inverse when k > 2.
  function viewToCode(x, y) {
    if (k === 1) return [x];
    if (!proj) return [x, y];
    const c = proj.components;
    return proj.mean.map((m, j) => m + x * c[0][j] + y * c[1][j]);
  }

  // ------------------------------------------------------------------------------ decoding
  async function post(path, payload) {
    const r = await fetch(path, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(payload),
    });
    const body = await r.json();
    if (!r.ok) throw new Error(body.error || r.statusText);
    return body;
  }
  async function decodeMany(list) {
    if (local) return list.map((c) => local.decode(c));
    const body = await post("api/decode", { codes: list });
    return body.rows.map((row) => Float64Array.from(row));
  }

  // For a server: one request in flight, and while it runs only the latest ask waits (the ones between are stale
  // before they could be answered), so a fast mouse or brush never queues a backlog.
  function latestOnly(run, onError) {
    let busy = false, next = null;
    return function ask(arg) {
      if (busy) { next = arg; return; }
      busy = true;
      run(arg).catch(onError).finally(() => {
        busy = false;
        if (next !== null) { const a = next; next = null; ask(a); }
      });
    };
  }
  // Hover: decode at once in the page, else ask the server.
  const askPreview = latestOnly((code) => decodeMany([code]).then(([row]) => showPreview(code, row)), (e) => showError(e));
  function requestPreview(code) {
    if (local) return showPreview(code, local.decode(code));
    askPreview(code);
  }

  // ------------------------------------------------------------------------------ drawing outputs
  const [H, W, C] = isImage ? [D.sample_shape[0], D.sample_shape[1], D.sample_shape[2] || 1] : [0, 0, 0];
  function paintImage(canvas, values) {
    const ctx = canvas.getContext("2d");
    const img = ctx.createImageData(W, H);
    for (let p = 0; p < H * W; p++) {
      for (let ch = 0; ch < 3; ch++) {
        const v = values[p * C + (C >= 3 ? ch : 0)];
        img.data[p * 4 + ch] = Math.round(255 * Math.min(1, Math.max(0, (v - lo) / (hi - lo))));
      }
      img.data[p * 4 + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
  }
  function setupPixels(canvas) {
    canvas.width = W; canvas.height = H; canvas.className = "pixels";
  }

  // Tables: bars in scaled units (z-scores for standard scaling), so features of any unit share one axis.
  const scaled = (values, j) => (values[j] - scOffset[j]) / scScale[j];
  let barRange = 1;
  if (!isImage) {
    for (let i = 0; i < n; i++) {
      const row = originalOf(i);
      for (let j = 0; j < D.n_features; j++) barRange = Math.max(barRange, Math.abs(scaled(row, j)));
    }
    barRange = Math.min(barRange, 6);
  }
  function fitCanvas(canvas) {
    const r = canvas.getBoundingClientRect(), dpr = window.devicePixelRatio || 1;
    canvas.width = Math.max(1, Math.round(r.width * dpr)); canvas.height = Math.max(1, Math.round(r.height * dpr));
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    return [ctx, r.width, r.height];
  }
  // Every bar is named (page.py sends the model's feature names, the data's, or x1..xm): across when the names
  // fit, else upright, and when even upright labels would collide, every few bars.
  const fitText = (ctx, text, room) => {
    let t = text;
    while (t.length > 1 && ctx.measureText(t).width > room) t = t.slice(0, -1);
    return t === text ? t : t.slice(0, -1) + "\u2026";
  };
  function paintBars(canvas, values, ghost) {
    const [ctx, w, h] = fitCanvas(canvas);
    const m = D.n_features, names = D.feature_names, bw = w / m, across = bw >= 34;
    const labelRoom = across ? 16 : Math.min(64, h / 3), every = across ? 1 : Math.ceil(12 / bw);
    const top = 6, bottom = h - labelRoom - 4, mid = (top + bottom) / 2, half = (bottom - top) / 2;
    ctx.clearRect(0, 0, w, h);
    ctx.strokeStyle = "#c9d0d8"; ctx.beginPath(); ctx.moveTo(0, mid); ctx.lineTo(w, mid); ctx.stroke();
    for (let j = 0; j < m; j++) {
      const v = Math.max(-1, Math.min(1, scaled(values, j) / barRange));
      ctx.fillStyle = "#2f6fde";
      ctx.fillRect(j * bw + bw * 0.15, Math.min(mid, mid - v * half), bw * 0.7, Math.abs(v * half));
      if (ghost) {
        const g = Math.max(-1, Math.min(1, scaled(ghost, j) / barRange));
        ctx.strokeStyle = "#e0562b"; ctx.lineWidth = 1.5;
        ctx.strokeRect(j * bw + bw * 0.1, Math.min(mid, mid - g * half), bw * 0.8, Math.abs(g * half));
      }
    }
    ctx.fillStyle = "#5f6b78"; ctx.font = "10px system-ui, sans-serif";
    for (let j = 0; j < m; j += every) {
      if (across) {
        ctx.textAlign = "center"; ctx.fillText(fitText(ctx, names[j], bw - 2), (j + 0.5) * bw, h - 4);
      } else {
        ctx.save(); ctx.translate((j + 0.5) * bw + 3, h - 2); ctx.rotate(-Math.PI / 2);
        ctx.textAlign = "left"; ctx.fillText(fitText(ctx, names[j], labelRoom), 0, 0); ctx.restore();
      }
    }
  }
  // A decoded row's features furthest from typical (in scaled units, as the bars show them), by name.
  function extremes(values, count) {
    const order = Array.from({ length: D.n_features }, (_, j) => j)
      .sort((a, b) => Math.abs(scaled(values, b)) - Math.abs(scaled(values, a))).slice(0, count);
    return order.map((j) => `${D.feature_names[j]} ${fmt(values[j])} (${scaled(values, j) >= 0 ? "+" : "\u2212"}${Math.abs(scaled(values, j)).toFixed(1)})`).join(", ");
  }

  const preview = $("preview"), original = $("original"), recon = $("recon"), strip = $("strip");
  if (isImage) { setupPixels(preview); setupPixels(original); setupPixels(recon); }
  else {
    preview.className = "bars"; original.className = "bars"; $("pair").classList.add("bars");
    $("cursor-readout").classList.add("table");
    $("original-caption").textContent = "reconstruction (bars) over the original (outlines)";
  }
  const paint = isImage ? (canvas, values) => paintImage(canvas, values) : paintBars;

  // Labels of kind "text" (more distinct values than colours can tell apart) name the dots but do not colour them.
  const colourByLabel = Boolean(D.labels) && D.labels.kind !== "text";
  const state = { preview: null, previews: 0, selected: [], walk: null, colour: colourByLabel ? "label" : "error",
    pad: { updates: 0, code: null, view: null, reconstruction: null, score: null, pointer: null },
    search: null, lassoMode: false, lasso: null, neighbors: [], hover: -1 };
  const nameOf = (name) => (name === null ? "(none)" : name);
  const fmt = (v) => (Math.abs(v) >= 1000 || (Math.abs(v) < 0.01 && v !== 0) ? v.toExponential(2) : v.toFixed(3));

  function showPreview(code, values) {
    paint(preview, values);
    state.preview = { code: Array.from(code), values: Array.from(values) };
    state.previews += 1;
    if (state.walk && state.walk.running) return;
    const far = isImage ? [] : [el("br"), "furthest from typical: " + extremes(values, 3)];
    $("cursor-readout").replaceChildren("z = (" + code.map(fmt).join(", ") + ")", ...far);
  }
  function showError(e) { $("cursor-readout").textContent = "decode failed: " + e.message; }

  // ------------------------------------------------------------------------------ colours
  const TAB = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
    "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5"];
  const VIRIDIS = [[68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141], [39, 173, 129],
    [92, 200, 99], [170, 220, 50], [253, 231, 37]];
  function viridis(t) {
    const x = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1), i = Math.min(VIRIDIS.length - 2, Math.floor(x)), f = x - i;
    const c = VIRIDIS[i].map((v, j) => Math.round(v + f * (VIRIDIS[i + 1][j] - v)));
    return `rgb(${c[0]},${c[1]},${c[2]})`;
  }
  function quantile(values, q) {
    const s = Float64Array.from(values).sort();
    return s[Math.min(s.length - 1, Math.floor(q * (s.length - 1)))];
  }
  // Per dot, a colour group: categories keep their index; continuous values fall into 64 bins (cheap to draw).
  // A blank label (null: NaN, inf or an empty cell in the data) is grey.
  const MISSING = "#b4bcc6";
  function colouring() {
    if (state.colour === "label" && D.labels && D.labels.kind === "category") {
      const colours = D.labels.names.map((name, i) => (name === null ? MISSING : TAB[i % TAB.length]));
      return { groups: D.labels.values, colours, legend: "category" };
    }
    const raw = state.colour === "label" && D.labels ? D.labels.values
      : Array.from(errors, (e) => (D.score.log ? Math.log10(Math.max(e, 1e-12)) : e));
    const present = raw.filter((v) => v !== null);
    const a = present.length ? quantile(present, 0.02) : 0, b = present.length ? quantile(present, 0.98) : 0;
    const span = b > a ? b - a : 1;
    const groups = raw.map((v) => (v === null ? 64 : Math.max(0, Math.min(63, Math.floor(((v - a) / span) * 64)))));
    const colours = Array.from({ length: 64 }, (_, i) => viridis((i + 0.5) / 64)).concat(MISSING);
    return { groups, colours, legend: "continuous", a, b };
  }
  let scheme = null;
  function drawLegend() {
    const legend = $("legend");
    if (scheme.legend === "category") {
      legend.replaceChildren(...D.labels.names.map((name, i) => {
        const swatch = el("span", undefined, "swatch");
        swatch.style.background = scheme.colours[i];  // CSSOM, not a style attribute: the CSP allows it
        const item = el("span", undefined, "item");
        item.title = nameOf(name);
        item.append(swatch, nameOf(name));
        return item;
      }));
      return;
    }
    const isError = state.colour === "error";
    const show = (v) => fmt(isError && D.score.log ? Math.pow(10, v) : v);
    const bar = el("span", undefined, "bar");
    bar.style.background = `linear-gradient(90deg,${Array.from({ length: 9 }, (_, i) => viridis(i / 8)).join(",")})`;
    legend.replaceChildren(el("span", isError ? D.score.legend : "label"),
      el("span", show(scheme.a)), bar, el("span", show(scheme.b)));
  }

  // ------------------------------------------------------------------------------ the map
  const wrap = $("map-wrap"), base = $("map-base"), map = $("map");
  let cw = 0, ch = 0, dpr = 1;
  const cam = { x: 0, y: 0, zoom: 1, unit: 1 };  // view point at the canvas centre; pixels per view unit = unit*zoom
  let home = null;
  // Home view: the central 98% of the dots with a margin (a long thin tail would squash the rest), within the extremes.
  function fitHome() {
    const xs = [], ys = [];
    for (let i = 0; i < n; i++) { xs.push(view[2 * i]); ys.push(view[2 * i + 1]); }
    const span = (v) => {
      const a = quantile(v, 0.01), b = quantile(v, 0.99), pad = 0.3 * Math.max(b - a, 1e-6);
      return [Math.max(quantile(v, 0), a - pad), Math.min(quantile(v, 1), b + pad)];
    };
    const [x0, x1] = span(xs), [y0, y1] = span(ys);
    home = { x: (x0 + x1) / 2, y: (y0 + y1) / 2, sx: Math.max(x1 - x0, 1e-6) * 1.08, sy: Math.max(y1 - y0, 1e-6) * 1.08 };
  }
  function resetView() {
    cam.x = home.x; cam.y = home.y; cam.zoom = 1;
    cam.unit = Math.min(cw / home.sx, ch / home.sy);
  }
  const toScreen = (x, y) => [cw / 2 + (x - cam.x) * cam.unit * cam.zoom, ch / 2 - (y - cam.y) * cam.unit * cam.zoom];
  const toView = (sx, sy) => [cam.x + (sx - cw / 2) / (cam.unit * cam.zoom), cam.y - (sy - ch / 2) / (cam.unit * cam.zoom)];

  function resize() {
    const r = wrap.getBoundingClientRect();
    dpr = window.devicePixelRatio || 1;
    const first = cw === 0;
    cw = r.width; ch = r.height;
    for (const c of [base, map]) {
      c.width = Math.round(cw * dpr); c.height = Math.round(ch * dpr);
      c.getContext("2d").setTransform(dpr, 0, 0, dpr, 0, 0);
    }
    if (first) { resetView(); } else { cam.unit = Math.min(cw / home.sx, ch / home.sy); }
    drawBase(); drawOverlay();
  }

  function drawBase() {
    const ctx = base.getContext("2d");
    ctx.clearRect(0, 0, cw, ch);
    const r = n > 8000 ? 1.6 : n > 2000 ? 2.2 : 3;
    ctx.globalAlpha = 0.8;
    const byGroup = new Map();
    for (let i = 0; i < n; i++) {
      const g = scheme.groups[i];
      if (!byGroup.has(g)) byGroup.set(g, []);
      byGroup.get(g).push(i);
    }
    for (const [g, members] of byGroup) {
      ctx.fillStyle = scheme.colours[g];
      ctx.beginPath();
      for (const i of members) {
        const [x, y] = toScreen(view[2 * i], view[2 * i + 1]);
        if (x < -r || y < -r || x > cw + r || y > ch + r) continue;
        ctx.moveTo(x + r, y); ctx.arc(x, y, r, 0, 2 * Math.PI);
      }
      ctx.fill();
    }
    ctx.globalAlpha = 1;
    drawAxes(ctx);
  }
  function drawAxes(ctx) {
    // A few ticks so positions read in latent (or PCA) units.
    const pxPer = cam.unit * cam.zoom, raw = 80 / pxPer, mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((s) => s * mag).find((s) => s >= raw);
    ctx.fillStyle = "#8b96a3"; ctx.strokeStyle = "rgba(0,0,0,0.06)"; ctx.font = "11px system-ui, sans-serif";
    const [vx0, vy1] = toView(0, 0), [vx1, vy0] = toView(cw, ch);
    ctx.textAlign = "center";
    for (let v = Math.ceil(vx0 / step) * step; v <= vx1; v += step) {
      const [x] = toScreen(v, 0);
      ctx.beginPath(); ctx.moveTo(x, 0); ctx.lineTo(x, ch); ctx.stroke();
      ctx.fillText(+v.toPrecision(6) + "", x, ch - 22);
    }
    ctx.textAlign = "left";
    for (let v = Math.ceil(vy0 / step) * step; v <= vy1; v += step) {
      const [, y] = toScreen(0, v);
      ctx.beginPath(); ctx.moveTo(0, y); ctx.lineTo(cw, y); ctx.stroke();
      ctx.fillText(+v.toPrecision(6) + "", 4, y - 3);
    }
  }

  let probe = null;  // [viewX, viewY] of the cursor or keyboard probe
  let lassoPath = null;  // the loop being drawn, in view units
  const PAD_COLOUR = "#d6336c";
  function ring(ctx, i, colour, label) {
    const [x, y] = toScreen(view[2 * i], view[2 * i + 1]);
    ctx.strokeStyle = "#fff"; ctx.lineWidth = 4; ctx.beginPath(); ctx.arc(x, y, 7, 0, 2 * Math.PI); ctx.stroke();
    ctx.strokeStyle = colour; ctx.lineWidth = 2; ctx.beginPath(); ctx.arc(x, y, 7, 0, 2 * Math.PI); ctx.stroke();
    if (label) {
      ctx.font = "bold 12px system-ui, sans-serif"; ctx.fillStyle = colour; ctx.textAlign = "left";
      ctx.fillText(label, x + 10, y - 8);
    }
  }
  // Dots ringed in one colour: search hits, lassoed dots.
  function rings(ctx, dots, colour, radius) {
    ctx.strokeStyle = colour; ctx.lineWidth = 1.5; ctx.beginPath();
    for (const i of dots) {
      const [x, y] = toScreen(view[2 * i], view[2 * i + 1]);
      ctx.moveTo(x + radius, y); ctx.arc(x, y, radius, 0, 2 * Math.PI);
    }
    ctx.stroke();
  }
  function drawLoop(ctx, polygon, closed) {
    ctx.strokeStyle = "#e0562b"; ctx.lineWidth = 1.5; ctx.setLineDash(closed ? [6, 4] : []);
    ctx.beginPath();
    polygon.forEach(([vx, vy], j) => { const [x, y] = toScreen(vx, vy); if (j) ctx.lineTo(x, y); else ctx.moveTo(x, y); });
    if (closed) ctx.closePath();
    ctx.stroke(); ctx.setLineDash([]);
  }
  // The drawing's code as a diamond; pinned to the edge when it lands outside the view, so it stays in sight.
  function padScreen() {
    const [x, y] = toScreen(state.pad.view[0], state.pad.view[1]);
    return [Math.min(Math.max(x, 10), cw - 10), Math.min(Math.max(y, 10), ch - 10)];
  }
  function drawPadMarker(ctx) {
    const [x, y] = padScreen();
    ctx.fillStyle = PAD_COLOUR; ctx.strokeStyle = "#fff"; ctx.lineWidth = 2;
    ctx.beginPath(); ctx.moveTo(x, y - 9); ctx.lineTo(x + 9, y); ctx.lineTo(x, y + 9); ctx.lineTo(x - 9, y); ctx.closePath();
    ctx.stroke(); ctx.fill();
  }
  // The hovered dot's name beside the cursor, on a white tag, kept inside the map.
  function nameTag(ctx, i, x, y) {
    const text = dotName(i) + (D.labels ? " \u00b7 label " + labelOf(i) : "");
    ctx.font = "12px system-ui, sans-serif";
    const w = Math.min(ctx.measureText(text).width + 10, cw - 8), h = 20;
    const left = x + 14 + w <= cw - 4 ? x + 14 : Math.max(4, x - 14 - w), top = Math.min(Math.max(4, y - 30), ch - h - 4);
    ctx.fillStyle = "rgba(255,255,255,0.92)"; ctx.strokeStyle = "#c9d0d8"; ctx.lineWidth = 1;
    ctx.fillRect(left, top, w, h); ctx.strokeRect(left + 0.5, top + 0.5, w - 1, h - 1);
    ctx.fillStyle = "#1d232b"; ctx.textAlign = "left"; ctx.textBaseline = "middle";
    ctx.fillText(text, left + 5, top + h / 2, w - 10); ctx.textBaseline = "alphabetic";
  }
  function drawOverlay() {
    const ctx = map.getContext("2d");
    ctx.clearRect(0, 0, cw, ch);
    if (state.search) rings(ctx, state.search, "#1d232b", 5);
    if (state.lasso) { drawLoop(ctx, state.lasso.polygon, true); rings(ctx, state.lasso.dots, "#e0562b", 4); }
    if (lassoPath) drawLoop(ctx, lassoPath, false);
    if (state.pad.view) drawPadMarker(ctx);
    const sel = state.selected;
    if (sel.length === 2) {
      const [ax, ay] = toScreen(view[2 * sel[0]], view[2 * sel[0] + 1]), [bx, by] = toScreen(view[2 * sel[1]], view[2 * sel[1] + 1]);
      ctx.strokeStyle = "#1d232b"; ctx.lineWidth = 1.5; ctx.setLineDash([5, 4]);
      ctx.beginPath(); ctx.moveTo(ax, ay); ctx.lineTo(bx, by); ctx.stroke(); ctx.setLineDash([]);
    }
    sel.forEach((i, j) => ring(ctx, i, j === 0 ? "#e0562b" : "#2f6fde", sel.length === 2 ? "AB"[j] : ""));
    const w = state.walk;
    if (w && w.t !== null) {
      const [x, y] = toScreen(w.from[0] + w.t * (w.to[0] - w.from[0]), w.from[1] + w.t * (w.to[1] - w.from[1]));
      ctx.fillStyle = "#1d232b"; ctx.beginPath(); ctx.arc(x, y, 5, 0, 2 * Math.PI); ctx.fill();
    }
    if (probe) {
      const [x, y] = toScreen(probe[0], probe[1]);
      ctx.strokeStyle = "#1d232b"; ctx.lineWidth = 1.5;
      ctx.beginPath(); ctx.arc(x, y, 6, 0, 2 * Math.PI);
      ctx.moveTo(x - 12, y); ctx.lineTo(x - 6, y); ctx.moveTo(x + 6, y); ctx.lineTo(x + 12, y);
      ctx.moveTo(x, y - 12); ctx.lineTo(x, y - 6); ctx.moveTo(x, y + 6); ctx.lineTo(x, y + 12); ctx.stroke();
      if (state.hover >= 0) nameTag(ctx, state.hover, x, y);
    }
  }

  function probeAt(vx, vy) {
    probe = [vx, vy];
    const [sx, sy] = toScreen(vx, vy);
    state.hover = nearestDot(sx, sy, 8);  // the dot under the cursor, if any: named in the readout
    drawOverlay();
    if (!state.walk || !state.walk.running) requestPreview(viewToCode(vx, vy));
  }

  function nearestDot(sx, sy, maxPx) {
    let best = -1, bestD = maxPx * maxPx;
    for (let i = 0; i < n; i++) {
      const [x, y] = toScreen(view[2 * i], view[2 * i + 1]);
      const d = (x - sx) ** 2 + (y - sy) ** 2;
      if (d <= bestD) { bestD = d; best = i; }
    }
    return best;
  }

  // ------------------------------------------------------------------------------ selection and walk
  // What a dot is called: its row number in the source (0-based, the data's own numbering, kept through any
  // subset) and, where the data names its rows (an image folder's file paths), its id.
  const rowOf = (i) => D.rows[i];
  const idOf = (i) => (D.ids ? D.ids[i] : null);
  const dotName = (i) => "row " + rowOf(i) + (D.ids ? " \u00b7 " + idOf(i) : "");
  function labelOf(i) {
    if (!D.labels) return "";
    const v = D.labels.values[i];
    return D.labels.kind !== "number" ? nameOf(D.labels.names[v]) : v === null ? nameOf(null) : fmt(v);
  }
  // The percentile of a score among the dots' scores: the share of dots scoring below it.
  let errorRank = null;
  function percentile(value) {
    if (!errorRank) errorRank = Float64Array.from(errors).sort();
    let lo2 = 0, hi2 = n;
    while (lo2 < hi2) { const m = (lo2 + hi2) >> 1; if (errorRank[m] < value) lo2 = m + 1; else hi2 = m; }
    return Math.min(100, Math.round((100 * lo2) / Math.max(1, n - 1)));
  }
  // A score in the map's own units: a detector's anomaly score against its threshold, or an autoencoder's
  // reconstruction MSE; either way with its percentile among the dots.
  function scoreText(value) {
    const rank = `${ordinal(percentile(value))} percentile`;
    if (D.score.threshold === null) return ["error ", bold(fmt(value)), ` (MSE, scaled; ${rank})`];
    const verdict = value > D.score.threshold ? "anomaly" : "normal";
    return ["anomaly score ", bold(fmt(value)), ` (${verdict}: threshold ${fmt(D.score.threshold)}; ${rank})`];
  }
  // 1st, 2nd, 3rd, 4th ... 11th, 12th, 13th ... 21st, 22nd, 101st.
  function ordinal(k) {
    const teen = k % 100 >= 11 && k % 100 <= 13;
    return k + (teen ? "th" : ({ 1: "st", 2: "nd", 3: "rd" })[k % 10] || "th");
  }
  function select(i) {
    if (state.selected.length >= 2) state.selected = [];
    state.selected.push(i);
    const orig = originalOf(i);
    decodeMany([codeOf(i)]).then(([rec]) => {
      if (isImage) { paint(original, orig); paint(recon, rec); } else paintBars(original, rec, orig);
      const label = D.labels ? [" \u00b7 label ", bold(labelOf(i))] : [];
      const id = D.ids ? [" \u00b7 ", bold(idOf(i))] : [];
      $("selection").replaceChildren("row ", bold(rowOf(i)), ...id, ...label, " \u00b7 ", ...scoreText(errors[i]),
        ...(isImage ? [] : [el("br"), "bars: reconstruction; outline: original"]));
      state.inspected = { index: i, reconstruction: Array.from(rec) };
    }).catch(showError);
    showNeighbors(i);
    if (state.selected.length === 2) startWalk(); else { stopWalk(); state.walk = null; updateWalkUi(); }
    drawOverlay();
  }

  function stopWalk() { if (state.walk) { state.walk.running = false; state.walk.t = null; } }
  function updateWalkUi() {
    const ready = state.selected.length === 2;
    $("replay").disabled = !ready;
    $("clear").disabled = state.selected.length === 0;
    if (!ready) {
      $("walk-status").textContent = state.selected.length === 1 ? "Now click a second dot (B)." : "Click two dots to walk between their codes.";
      strip.getContext("2d").clearRect(0, 0, strip.width, strip.height);
    }
  }
  function startWalk() {
    stopWalk();
    const [a, b] = state.selected, za = codeOf(a), zb = codeOf(b);
    const at = (t) => za.map((v, j) => v + t * (zb[j] - v));
    const ts = Array.from({ length: WALK_FRAMES }, (_, f) => f / (WALK_FRAMES - 1));
    const walk = { a, b, from: [view[2 * a], view[2 * a + 1]], to: [view[2 * b], view[2 * b + 1]],
      running: true, t: 0, frame: 0, frames: WALK_FRAMES, codes: ts.map(at), rows: null, done: false };
    state.walk = walk;
    updateWalkUi();
    $("walk-status").textContent = "walking...";
    decodeMany(walk.codes).then((rows) => {
      if (state.walk !== walk) return;
      walk.rows = rows;
      drawStrip(rows);
      let t0 = null;  // the first frame's own timestamp: rAF times can precede a performance.now() taken here
      const step = (now) => {
        if (!walk.running) return;
        if (t0 === null) t0 = now;
        const f = Math.max(0, Math.min(WALK_FRAMES - 1, Math.floor(((now - t0) / WALK_MS) * WALK_FRAMES)));
        walk.frame = f; walk.t = ts[f];
        paint(preview, rows[f]);
        state.preview = { code: walk.codes[f], values: Array.from(rows[f]) };
        state.previews += 1;
        $("walk-status").textContent = `A \u2192 B: frame ${f + 1} of ${WALK_FRAMES}`;
        drawOverlay();
        if (f < WALK_FRAMES - 1) requestAnimationFrame(step);
        else { walk.running = false; walk.done = true; $("walk-status").textContent = `Walked A \u2192 B in ${WALK_FRAMES} frames; W replays.`; }
      };
      requestAnimationFrame(step);
    }).catch(showError);
  }
  function drawStrip(rows) {
    const picks = Array.from({ length: STRIP }, (_, s) => rows[Math.round((s * (rows.length - 1)) / (STRIP - 1))]);
    const [ctx, w, h] = fitCanvas(strip);
    ctx.clearRect(0, 0, w, h);
    if (isImage) {
      const cell = Math.min(h, w / STRIP - 2), tmp = document.createElement("canvas");
      setupPixels(tmp);
      ctx.imageSmoothingEnabled = false;
      picks.forEach((row, s) => { paintImage(tmp, row); ctx.drawImage(tmp, s * (w / STRIP), 0, cell, cell); });
    } else {
      // One column per frame, one row per feature, colour = scaled value.
      const m = D.n_features, cellW = w / STRIP, cellH = h / m;
      picks.forEach((row, s) => {
        for (let j = 0; j < m; j++) {
          ctx.fillStyle = viridis(0.5 + scaled(row, j) / (2 * barRange));
          ctx.fillRect(s * cellW, j * cellH, cellW - 1, Math.ceil(cellH));
        }
      });
    }
  }
  function clearSelection() {
    stopWalk(); state.walk = null; state.selected = []; updateWalkUi();
    $("selection").textContent = "Click a dot (or press Enter).";
    for (const c of [original, recon]) c.getContext("2d").clearRect(0, 0, c.width, c.height);
    clearNeighbors(); clearLasso();
    drawOverlay();
  }

  // ------------------------------------------------------------------------------ neighbors
  // By the full codes, not the 2-D map: what the model itself puts together, which a PCA view of a wider code
  // can fold apart (and for a 2-D code the map already shows map distances). Input space would rank by pixel
  // overlap, which says nothing about the model.
  const NEIGHBOURS = 8;
  function nearestCodes(i, count) {
    const found = [];
    for (let j = 0; j < n; j++) {
      if (j === i) continue;
      let d = 0;
      for (let c = 0; c < k; c++) d += (codes[j * k + c] - codes[i * k + c]) ** 2;
      found.push([d, j]);
    }
    found.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    return found.slice(0, count).map(([d, j]) => ({ index: j, distance: Math.sqrt(d) }));
  }
  function neighborButton({ index, distance }) {
    const button = el("button");
    button.type = "button";
    button.dataset.index = String(index);
    button.title = `${dotName(index)}, code distance ${fmt(distance)}; click to select`;
    if (isImage) {
      const canvas = document.createElement("canvas");
      setupPixels(canvas); paintImage(canvas, originalOf(index));
      button.append(canvas);
    }
    button.append(el("span", "#" + rowOf(index) + (D.labels ? " \u00b7 " + labelOf(index) : "")));
    if (!isImage) button.append(el("span", "distance " + fmt(distance)));
    button.addEventListener("click", () => select(index));
    return button;
  }
  function showNeighbors(i) {
    const near = nearestCodes(i, NEIGHBOURS);
    state.neighbors = near.map((m) => m.index);
    $("neighbors").className = "neighbors" + (isImage ? "" : " rows");
    $("neighbors").replaceChildren(...near.map(neighborButton));
    $("neighbors-note").textContent = `${dotName(i)}: its ${near.length} nearest dots by code distance.`;
  }
  function clearNeighbors() {
    state.neighbors = [];
    $("neighbors").replaceChildren();
    $("neighbors-note").textContent = "The selected dot's nearest dots by their full codes.";
  }

  // ------------------------------------------------------------------------------ search
  // Comma-separated terms: "#12" is the dot of row 12 (the data's own row number), anything else a label or an id
  // (a file path, or its last parts: "img_3.png", "cats/img_3.png"), matched whole and regardless of case, so "7"
  // finds label 7 and never row 7.
  const ROW_TERM = /^#\d+$/;
  const lowerIds = D.ids ? D.ids.map((s) => s.toLowerCase()) : null;
  const idMatches = (id, terms) => terms.some((t) => id === t || id.endsWith("/" + t));
  function searchMatches(query) {
    const terms = query.split(",").map((t) => t.trim()).filter(Boolean);
    const rows = new Set(terms.filter((t) => ROW_TERM.test(t)).map((t) => Number(t.slice(1))));
    const words = terms.filter((t) => !ROW_TERM.test(t)).map((t) => t.toLowerCase());
    const labels = new Set(words);
    const hits = [];
    for (let i = 0; i < n; i++) {
      if (rows.has(rowOf(i)) || (D.labels && labels.has(labelOf(i).toLowerCase()))
        || (lowerIds && words.length && idMatches(lowerIds[i], words))) hits.push(i);
    }
    return hits;
  }
  function runSearch() {
    const query = $("search").value;
    state.search = query.trim() ? searchMatches(query) : null;
    $("search-count").textContent = state.search ? `${state.search.length} of ${n} dots` : "";
    drawOverlay();
  }

  // ------------------------------------------------------------------------------ lasso
  // With the lasso on, a drag on the map draws a loop instead of panning. The loop is kept in view units, so it
  // stays on its dots under zoom and pan; the dots inside can be downloaded as row ids.
  function setLassoMode(on) {
    state.lassoMode = on;
    $("lasso").setAttribute("aria-pressed", String(on));
    map.classList.toggle("lassoing", on);
  }
  // Even-odd rule: a ray from the point to the right crosses the loop's edges an odd number of times inside.
  function inside(x, y, loop) {
    let odd = false;
    for (let a = 0, b = loop.length - 1; a < loop.length; b = a++) {
      const [xa, ya] = loop[a], [xb, yb] = loop[b];
      if ((ya > y) !== (yb > y) && x < xa + ((y - ya) * (xb - xa)) / (yb - ya)) odd = !odd;
    }
    return odd;
  }
  function finishLasso(loop) {
    const dots = [];
    if (loop.length >= 3) for (let i = 0; i < n; i++) if (inside(view[2 * i], view[2 * i + 1], loop)) dots.push(i);
    state.lasso = { polygon: loop, dots };
    $("lasso-count").textContent = `${dots.length} dots lassoed`;
    $("lasso-csv").disabled = dots.length === 0;
    drawOverlay();
  }
  function clearLasso() {
    state.lasso = null;
    $("lasso-count").textContent = "";
    $("lasso-csv").disabled = true;
  }
  // One line per lassoed dot: its row number in the source, its id (a file path) and its label where the data has
  // them, under the names `hourglass encode` gives these columns, so the two files join on row_id.
  // A label or path a spreadsheet would run as a formula (= + - @ tab CR first, OWASP's rule) gets a leading ',
  // as every CSV hourglass writes does (data/tables.py, neutralise); a plain number such as -2 stays a number.
  const csvField = (text) => {
    if (/^[=+\-@\t\r]/.test(text) && !/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) text = "'" + text;
    return /[",\r\n]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
  };
  function lassoCsv() {
    const header = ["row_id", ...(D.ids ? ["path"] : []), ...(D.labels ? ["label"] : [])];
    const line = (i) => [String(rowOf(i)), ...(D.ids ? [idOf(i)] : []), ...(D.labels ? [labelOf(i)] : [])];
    const dots = state.lasso ? state.lasso.dots : [];
    return [header, ...dots.map(line)].map((fields) => fields.map(csvField).join(",") + "\n").join("");
  }
  // A file from the page itself (a blob: link), so nothing leaves the machine and the CSP needs no exception.
  function downloadCsv() {
    const url = URL.createObjectURL(new Blob([lassoCsv()], { type: "text/csv" }));
    const link = el("a");
    link.href = url; link.download = "hourglass-lasso.csv";
    document.body.append(link); link.click(); link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  // ------------------------------------------------------------------------------ the drawing pad
  // A drawing becomes a row the way the data's images were made, not as the finger left it: MNIST fitted each
  // digit into a fixed box, centred it by its centre of mass and area-averaged it (mnist7 again, to 7x7), so its
  // strokes are grey and thin where a raw stroke is white and wide, and every raw drawing scored as an outlier.
  // Here the strokes are scaled to span what the data's images span (D.ink.extent), moved so their centre of mass
  // sits where the data's does, drawn with an anti-aliased pen at SUPER times the model's resolution, area-averaged
  // down to it and painted in the data's own background and ink values. The pen's width is the one whose strokes
  // spread their ink as the data's do (D.ink.spread; fitPen). page.py measures all of D.ink from the data.
  const pad = $("pad"), padInput = $("pad-input"), padRecon = $("pad-recon");
  const STYLE = D.ink || { background: lo, ink: hi, spread: 1, extent: 0.7 * Math.min(H, W), centre: [H / 2, W / 2] };
  const SUPER = Math.max(1, Math.min(8, Math.floor(512 / Math.max(H, W, 1))));  // high-resolution pixels per pixel
  const HH = H * SUPER, WW = W * SUPER;
  const fine = new Float32Array(HH * WW);  // the high-resolution rendering, ink 0..1
  const ink = new Float64Array(H * W);  // the same, area-averaged to the model's size
  const strokes = [];  // as drawn: each a list of [x, y] in units of the pad's box (0..1)
  let drawing = false;  // a stroke is under way
  let penWidth = 1;  // in model pixels; fitPen sets it

  // Coverage of the pixels near segment a-b by a round pen of radius r (pixels of `fine`): 1 inside, a one-pixel
  // linear edge (anti-aliasing), kept as the maximum so a line drawn over again stays as it was, as a pen's would.
  function penSegment(ax, ay, bx, by, r) {
    const dx = bx - ax, dy = by - ay, len2 = dx * dx + dy * dy;
    const x0 = Math.max(0, Math.floor(Math.min(ax, bx) - r - 1)), x1 = Math.min(WW - 1, Math.ceil(Math.max(ax, bx) + r + 1));
    const y0 = Math.max(0, Math.floor(Math.min(ay, by) - r - 1)), y1 = Math.min(HH - 1, Math.ceil(Math.max(ay, by) + r + 1));
    for (let y = y0; y <= y1; y++) {
      for (let x = x0; x <= x1; x++) {
        const px = x + 0.5 - ax, py = y + 0.5 - ay;
        const t = len2 > 0 ? Math.min(1, Math.max(0, (px * dx + py * dy) / len2)) : 0;
        const cover = Math.min(1, Math.max(0, r + 0.5 - Math.hypot(px - t * dx, py - t * dy)));
        if (cover > fine[y * WW + x]) fine[y * WW + x] = cover;
      }
    }
  }
  // The lines (lists of [x, y] in model pixels) drawn at high resolution and area-averaged into `ink`.
  function render(lines, width) {
    fine.fill(0);
    const r = (width * SUPER) / 2;
    for (const line of lines) {
      for (let j = 0; j < line.length; j++) {
        const [ax, ay] = line[Math.max(0, j - 1)], [bx, by] = line[j];
        penSegment(ax * SUPER, ay * SUPER, bx * SUPER, by * SUPER, r);
      }
    }
    ink.fill(0);
    for (let y = 0; y < HH; y++) {
      const row = Math.floor(y / SUPER) * W;
      for (let x = 0; x < WW; x++) ink[row + Math.floor(x / SUPER)] += fine[y * WW + x];
    }
    for (let p = 0; p < H * W; p++) ink[p] /= SUPER * SUPER;
  }
  // As ink.py's extent_and_centre: the larger span holding 2%..98% of the ink along either axis, and the centre
  // of mass [y, x], in model pixels.
  function extentAndCentre() {
    const rows = new Float64Array(H), cols = new Float64Array(W);
    let total = 0, cy = 0, cx = 0;
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const v = ink[y * W + x];
        rows[y] += v; cols[x] += v; total += v; cy += v * (y + 0.5); cx += v * (x + 0.5);
      }
    }
    const span = (profile) => {
      const at = (q) => {  // where the cumulative share reaches q, linear within a pixel (numpy's interp)
        let sum = 0;
        for (let i = 0; i < profile.length; i++) {
          const next = sum + profile[i] / total;
          if (next >= q && profile[i] > 0) return i + (q - sum) / (next - sum);
          sum = next;
        }
        return profile.length;
      };
      return at(0.98) - at(0.02);
    };
    return total > 0 ? [Math.max(span(rows), span(cols)), cy / total, cx / total] : [0, H / 2, W / 2];
  }
  // Strokes (pad units) to lines in model pixels: scaled by `scale` about their box's centre, then moved by
  // (dy, dx) from the model's centre.
  function place(lines, scale, dy, dx) {
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (const line of lines) for (const [x, y] of line) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
    const mx = (x0 + x1) / 2, my = (y0 + y1) / 2, size = Math.max(x1 - x0, y1 - y0);
    return [lines.map((line) => line.map(([x, y]) => [W / 2 + dx + (x - mx) * scale, H / 2 + dy + (y - my) * scale])), size];
  }
  // Frame the strokes as the data's images are framed, and render them into `ink`: a first rendering measures
  // the drawing's extent and centre, the second is scaled and moved to the data's.
  function renderFramed(lines, width) {
    const [, size] = place(lines, 1, 0, 0);
    const guess = size > 0 ? STYLE.extent / size : 1;  // the box's size, a first guess at the extent
    render(place(lines, guess, 0, 0)[0], width);
    const [extent, cy, cx] = extentAndCentre();
    const pen = Math.min(extent, width);  // what the pen alone adds to the extent does not scale with the drawing
    const scale = size > 0 && extent > pen ? (guess * Math.max(STYLE.extent - pen, 0.1)) / (extent - pen) : guess;
    const s = scale / guess;  // the centre of mass moves with the scale about the model's centre
    render(place(lines, scale, STYLE.centre[0] - H / 2 - s * (cy - H / 2), STYLE.centre[1] - W / 2 - s * (cx - W / 2))[0], width);
  }
  // How evenly a rendering's ink is spread: sum(v^2)/sum(v), as ink.py measures the data's.
  function spread() {
    let s1 = 0, s2 = 0;
    for (let p = 0; p < H * W; p++) { s1 += ink[p]; s2 += ink[p] * ink[p]; }
    return s1 > 0 ? s2 / s1 : 0;
  }
  // The pen width whose strokes spread their ink as the data's do, tried on a few digit-like shapes (a ring, a
  // bar, a 7, a 2): wider pens fill whole pixels, so the spread grows with the width. At most a fifth of the
  // drawing's extent: crisp data (spread near 1) asks for a width no pen reaches, and that is a bold pen.
  function fitPen() {
    const ring = Array.from({ length: 33 }, (_, j) => [0.5 + 0.3 * Math.sin(j / 5.1), 0.5 - 0.4 * Math.cos(j / 5.1)]);
    const shapes = [[ring], [[[0.5, 0.1], [0.5, 0.9]]], [[[0.2, 0.15], [0.8, 0.15], [0.4, 0.9]]],
      [[[0.2, 0.3], [0.5, 0.1], [0.8, 0.3], [0.2, 0.9], [0.85, 0.9]]]];
    const spreadAt = (w) => shapes.reduce((acc, lines) => { renderFramed(lines, w); return acc + spread(); }, 0) / shapes.length;
    let low = 0.05, high = Math.max(0.1, STYLE.extent / 5);
    for (let step = 0; step < 14; step++) {  // bisection: spreadAt rises with the width
      const mid = Math.sqrt(low * high);
      if (spreadAt(mid) < STYLE.spread) low = mid; else high = mid;
    }
    ink.fill(0);
    return Math.sqrt(low * high);
  }

  // The drawing as the model's input: ink 0..1 between the data's background and ink values.
  function padRow() {
    const row = new Float64Array(H * W * C);
    for (let p = 0; p < H * W; p++) {
      for (let ch = 0; ch < C; ch++) row[p * C + ch] = STYLE.background + ink[p] * (STYLE.ink - STYLE.background);
    }
    return row;
  }
  // The pad itself shows the strokes as drawn, in white on black, at its own resolution.
  function paintStrokes() {
    const ctx = pad.getContext("2d"), w = pad.width, h = pad.height;
    ctx.fillStyle = "#000"; ctx.fillRect(0, 0, w, h);
    ctx.strokeStyle = "#fff"; ctx.fillStyle = "#fff"; ctx.lineWidth = w / 16; ctx.lineCap = "round"; ctx.lineJoin = "round";
    for (const line of strokes) {
      ctx.beginPath();
      line.forEach(([x, y], j) => (j ? ctx.lineTo(x * w, y * h) : ctx.moveTo(x * w, y * h)));
      if (line.length === 1) ctx.lineTo(line[0][0] * w + 0.01, line[0][1] * h);
      ctx.stroke();
    }
  }
  function redrawPad() {
    paintStrokes();
    if (strokes.length) renderFramed(strokes, penWidth); else ink.fill(0);
    paintImage(padInput, padRow());
  }

  // What the model makes of the drawing: its code, its reconstruction and its score, in the page or from the server.
  async function inspectOnServer(row) {
    const body = await post("api/inspect", { rows: [Array.from(row)] });
    return { code: body.codes[0], score: body.scores[0], reconstruction: body.reconstructions[0] };
  }
  const askServer = latestOnly((row) => inspectOnServer(row).then(showPad),
    (e) => { $("pad-readout").textContent = "inspecting the drawing failed: " + e.message; });
  function inspectPad() {
    if (encoder) showPad(inspectHere(padRow())); else askServer(padRow());
  }
  function showPad({ code, score, reconstruction }) {
    Object.assign(state.pad, { code: Array.from(code), view: codeToView(code), score,
      reconstruction: Array.from(reconstruction), updates: state.pad.updates + 1 });
    paintImage(padRecon, reconstruction);
    $("pad-readout").replaceChildren("z = (" + Array.from(code, fmt).join(", ") + ") \u00b7 ", ...scoreText(score));
    drawOverlay();
  }
  function clearPad() {
    strokes.length = 0;
    redrawPad();
    padRecon.getContext("2d").clearRect(0, 0, W, H);
    Object.assign(state.pad, { code: null, view: null, score: null, reconstruction: null });
    $("pad-readout").textContent = "Paint on the pad: the \u25c6 on the map shows where it lands.";
    drawOverlay();
  }

  // Pointer events serve the mouse, a pen and a finger alike (touch-action: none in the CSS keeps a finger
  // from scrolling the page instead). Every move re-renders and re-encodes: live, one stroke at a time.
  const padPoint = (e) => {
    const r = pad.getBoundingClientRect();
    return [Math.min(1, Math.max(0, (e.clientX - r.left) / r.width)), Math.min(1, Math.max(0, (e.clientY - r.top) / r.height))];
  };
  function padStroke(e) {
    state.pad.pointer = e.pointerType;
    strokes[strokes.length - 1].push(padPoint(e));
    redrawPad();
    inspectPad();
  }
  function setupPad() {
    if (!D.pad.ok) {
      for (const id of ["pad-pair", "pad-controls"]) $(id).hidden = true;
      $("pad-readout").textContent = D.pad.note;
      return;
    }
    setupPixels(padInput); setupPixels(padRecon);
    const side = Math.round(120 * (window.devicePixelRatio || 1));
    pad.width = side; pad.height = side; pad.className = "strokes";
    penWidth = fitPen();
    clearPad();
    pad.addEventListener("pointerdown", (e) => {
      e.preventDefault();
      pad.setPointerCapture(e.pointerId);
      drawing = true;
      strokes.push([]);
      padStroke(e);
    });
    pad.addEventListener("pointermove", (e) => { if (drawing) padStroke(e); });
    for (const end of ["pointerup", "pointercancel"]) pad.addEventListener(end, () => { drawing = false; });
  }

  // ------------------------------------------------------------------------------ input
  function zoomAt(factor, sx, sy) {
    const [vx, vy] = toView(sx, sy);
    cam.zoom = Math.min(500, Math.max(0.2, cam.zoom * factor));
    const [nx, ny] = toView(sx, sy);
    cam.x += vx - nx; cam.y += vy - ny;
    drawBase(); drawOverlay();
  }
  const local2 = (e) => { const r = map.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; };
  let drag = null;
  map.addEventListener("pointerdown", (e) => {
    const [sx, sy] = local2(e);
    map.setPointerCapture(e.pointerId);
    if (state.lassoMode) { lassoPath = [toView(sx, sy)]; return; }
    drag = { sx, sy, cx: cam.x, cy: cam.y, moved: false };
  });
  map.addEventListener("pointermove", (e) => {
    const [sx, sy] = local2(e);
    if (lassoPath) { lassoPath.push(toView(sx, sy)); drawOverlay(); return; }
    if (drag && (drag.moved || Math.hypot(sx - drag.sx, sy - drag.sy) > 4)) {
      drag.moved = true; map.classList.add("dragging");
      const u = cam.unit * cam.zoom;
      cam.x = drag.cx - (sx - drag.sx) / u; cam.y = drag.cy + (sy - drag.sy) / u;
      drawBase();
    }
    const [vx, vy] = toView(sx, sy);
    probeAt(vx, vy);
  });
  map.addEventListener("pointerup", (e) => {
    const [sx, sy] = local2(e);
    if (lassoPath) { const loop = lassoPath; lassoPath = null; finishLasso(loop); return; }
    if (drag && !drag.moved) {
      const i = nearestDot(sx, sy, 10);
      if (i >= 0) select(i);
    }
    drag = null; map.classList.remove("dragging");
  });
  map.addEventListener("pointerleave", () => { if (!drag) { probe = null; drawOverlay(); } });
  map.addEventListener("wheel", (e) => {
    e.preventDefault();
    const [sx, sy] = local2(e);
    zoomAt(Math.exp(-e.deltaY * 0.0015), sx, sy);
  }, { passive: false });

  map.addEventListener("keydown", (e) => {
    const big = e.shiftKey ? 40 : 10;
    const moves = { ArrowLeft: [-big, 0], ArrowRight: [big, 0], ArrowUp: [0, -big], ArrowDown: [0, big] };
    const p = probe ? toScreen(probe[0], probe[1]) : [cw / 2, ch / 2];
    if (e.key in moves) {
      let [sx, sy] = [p[0] + moves[e.key][0], p[1] + moves[e.key][1]];
      // Walking off the edge pans the map instead.
      const px = Math.min(Math.max(sx, 10), cw - 10) - sx, py = Math.min(Math.max(sy, 10), ch - 10) - sy;
      if (px || py) {
        const u = cam.unit * cam.zoom;
        cam.x -= px / u; cam.y += py / u; sx += px; sy += py; drawBase();
      }
      const [vx, vy] = toView(sx, sy);
      probeAt(vx, vy);
    } else if (e.key === "Enter" || e.key === " ") {
      const i = nearestDot(p[0], p[1], Infinity);
      if (i >= 0) select(i);
    } else if (e.key === "+" || e.key === "=") zoomAt(1.25, p[0], p[1]);
    else if (e.key === "-" || e.key === "_") zoomAt(0.8, p[0], p[1]);
    else if (e.key === "0") { resetView(); drawBase(); drawOverlay(); }
    else if (e.key === "c" || e.key === "C") setColour(state.colour === "label" ? "error" : "label");
    else if (e.key === "w" || e.key === "W") { if (state.selected.length === 2) startWalk(); }
    else if (e.key === "l" || e.key === "L") setLassoMode(!state.lassoMode);
    else if (e.key === "Escape") clearSelection();
    else return;
    e.preventDefault();
  });
  map.addEventListener("focus", () => { if (!probe) probeAt(...toView(cw / 2, ch / 2)); });

  function setColour(mode) {
    if (mode === "label" && !colourByLabel) return;
    state.colour = mode;
    $("colour-" + mode).checked = true;
    scheme = colouring(); drawLegend(); drawBase();
  }
  $("colour-label").disabled = !colourByLabel;
  if (!colourByLabel) {
    $("colour-label").parentElement.title = D.labels ? "too many distinct labels to colour by" : "the data has no labels";
  }
  for (const id of ["colour-label", "colour-error"]) $(id).addEventListener("change", (e) => setColour(e.target.value));
  $("zoom-in").addEventListener("click", () => zoomAt(1.25, cw / 2, ch / 2));
  $("zoom-out").addEventListener("click", () => zoomAt(0.8, cw / 2, ch / 2));
  $("reset-view").addEventListener("click", () => { resetView(); drawBase(); drawOverlay(); });
  $("replay").addEventListener("click", startWalk);
  $("clear").addEventListener("click", clearSelection);
  $("search").addEventListener("input", runSearch);
  $("lasso").addEventListener("click", () => setLassoMode(!state.lassoMode));
  $("lasso-csv").addEventListener("click", downloadCsv);
  $("pad-clear").addEventListener("click", clearPad);

  // ------------------------------------------------------------------------------ start
  const shape = isImage ? D.sample_shape.join("\u00d7") + " images" : D.n_features + " features";
  const shown = D.n < D.n_total ? `${D.n.toLocaleString()} of ${D.n_total.toLocaleString()}` : D.n.toLocaleString();
  $("meta").textContent = `${D.architecture} \u00b7 ${shape} \u00b7 ${shown} points \u00b7 ` +
    (local ? "decoding in this page" : "decoding on the local server");
  $("axis-note").textContent = proj
    ? `PCA projection of the ${k}-D code (${Math.round(100 * proj.explained)}% of its variance); hover decodes the back-projected code`
    : k === 1 ? "1-D code on the x axis" : "latent units: z1 \u2192, z2 \u2191";
  fitHome();
  setColour(state.colour);
  new ResizeObserver(resize).observe(wrap);
  updateWalkUi();
  setupPad();

  // For tests and the curious: decode codes, find a dot on screen, time the decoder.
  window.hourglassExplorer = {
    state, decode: (list) => decodeMany(list).then((rows) => rows.map((r) => Array.from(r))),
    dotScreen: (i) => { const [x, y] = toScreen(view[2 * i], view[2 * i + 1]); const r = map.getBoundingClientRect(); return [r.left + x, r.top + y]; },
    viewToCode, codeToView, ordinal, range: [lo, hi], n, latentDim: k, mode: D.mode,
    encode: (rows) => (encoder ? rows.map((row) => Array.from(encoder.encode(row))) : null),
    padInk: () => Array.from(ink), padRow: () => Array.from(padRow()), penWidth: () => penWidth, padScreen: () => { const [x, y] = padScreen(); const r = map.getBoundingClientRect(); return [r.left + x, r.top + y]; },
    searchMatches, lassoCsv,
    benchmark: (count) => {
      if (!local) return null;
      const t0 = performance.now();
      for (let c = 0; c < count; c++) local.decode(codeOf(c % n));
      return (performance.now() - t0) / count;
    },
  };
})();
