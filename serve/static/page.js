// The airchitect web page: a form over the JSON API (GET /v1/workloads, POST /v1/workload,
// POST /v1/recommend), the answer rendered design first, then the per-layer chart and table and
// the what-if table. Plain JavaScript, no libraries: the chart is inline SVG.
"use strict";

const $ = (id) => document.getElementById(id);
const SVG_NS = "http://www.w3.org/2000/svg";
const DATAFLOWS = { ws: "weight-stationary", os: "output-stationary",
                    is: "input-stationary", rs: "row-stationary" };
const BOUND_COLOURS = { compute: "#1f5fbf", l1: "#7a4fbf", noc: "#d98a00", l2: "#2e9e6a",
                        dram: "#c0392b" };
const SHAPES = ["batch", "seq_len", "phase", "context_len"];
const UPLOAD = "__upload__";
const state = { catalogue: null, answer: null, maxBodyBytes: null };

// -- numbers with units ---------------------------------------------------------------------------
function num(x, digits = 3) {
  if (x === null || x === undefined || !Number.isFinite(x)) return "n/a";
  const a = Math.abs(x);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return x.toExponential(digits - 1);
  if (Number.isInteger(x)) return x.toLocaleString("en-US");
  return Number(x.toPrecision(digits)).toLocaleString("en-US", { maximumFractionDigits: 6 });
}
const pct = (x) => `${num(100 * x, 3)} %`;

// -- requests -------------------------------------------------------------------------------------
class ApiError extends Error {}

async function api(path, body) {
  const init = body === undefined ? {} : {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
  };
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    throw new ApiError(`cannot reach the server (${err.message})`);
  }
  const text = await response.text();
  let data = null;
  try { data = JSON.parse(text); } catch (_) { /* not JSON: reported below */ }
  if (!response.ok) {
    const detail = data && typeof data.detail === "string" ? data.detail : text.slice(0, 200);
    throw new ApiError(`${response.status}: ${detail}`.replace(/\s+/g, " "));
  }
  if (data === null) throw new ApiError(`${response.status}: the answer is not JSON`);
  return data;
}

// -- the form -------------------------------------------------------------------------------------
function source() { return document.querySelector("input[name=source]:checked").value; }

function option(value, text) {
  const o = document.createElement("option");
  o.value = value; o.textContent = text;
  return o;
}

function showFields() {
  const src = source();
  const llmUpload = src === "llm" && $("llm-config").value === UPLOAD;
  document.querySelector(".for-zoo").hidden = src !== "zoo";
  document.querySelector(".for-onnx").hidden = src !== "onnx";
  document.querySelector(".for-llm").hidden = src !== "llm";
  document.querySelector(".for-llm-file").hidden = !llmUpload;
  let takes = SHAPES;
  if (src === "onnx") takes = ["batch"];
  if (src !== "zoo") {  // the importer's defaults
    $("batch").placeholder = "1";
    $("seq_len").placeholder = "512";
    $("context_len").placeholder = "= sequence length";
  }
  if (src === "zoo") {
    const net = state.catalogue.networks.find((n) => n.name === $("network").value);
    takes = net ? Object.keys(net.shape) : [];
    for (const [field, value] of Object.entries(net ? net.shape : {})) {
      if (value !== null && field !== "phase") $(field).placeholder = String(value);
    }
  }
  for (const label of document.querySelectorAll("[data-shape]")) {
    label.hidden = !takes.includes(label.dataset.shape);
  }
}

function readNumber(id, what) {
  const input = $(id);
  if (input.validity.badInput) throw new ApiError(`${what}: not a number`);
  return input.value.trim() === "" ? null : Number(input.value);
}

function shapeFields() {
  const out = {};
  for (const field of SHAPES) {
    const label = document.querySelector(`[data-shape=${field}]`);
    if (label.hidden) continue;
    const value = field === "phase" ? $(field).value : readNumber(field, field);
    if (value !== null && value !== "") out[field] = value;
  }
  return out;
}

function readFile(input, what, asText) {
  const file = input.files[0];
  if (!file) return Promise.reject(new ApiError(`${what}: choose a file`));
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onerror = () => reject(new ApiError(`${what}: cannot read ${file.name}`));
    reader.onload = () => resolve({ name: file.name, data: reader.result });
    if (asText) reader.readAsText(file); else reader.readAsDataURL(file);
  });
}

// The workload part of a recommend request; a file is first turned into layers by the server.
async function workload() {
  const src = source();
  const shape = shapeFields();
  if (src === "zoo") return { body: { model: $("network").value, ...shape }, name: null };
  let request;
  if (src === "onnx") {
    const file = await readFile($("onnx-file"), "ONNX file", false);
    const base64 = file.data.slice(file.data.indexOf(",") + 1);
    request = { onnx: base64, name: file.name.replace(/\.onnx$/i, ""), ...shape };
  } else if ($("llm-config").value === UPLOAD) {
    const file = await readFile($("llm-file"), "config.json", true);
    let config;
    try { config = JSON.parse(file.data); } catch (err) {
      throw new ApiError(`config.json: not valid JSON (${err.message})`);
    }
    request = { llm_config: config, name: file.name.replace(/\.json$/i, ""), ...shape };
  } else {
    request = { llm_config: $("llm-config").value, ...shape };
  }
  const imported = await api("/v1/workload", request);
  return { body: { layers: imported.layers }, name: imported.name, notes: imported.warnings };
}

function budget() {
  const out = {};
  const area = readNumber("area_mm2", "area budget");
  const power = readNumber("power_mw", "power budget");
  if (area !== null) out.area_mm2 = area;
  if (power !== null) out.power_mw = power;
  return Object.keys(out).length ? out : null;
}

function showError(message) {
  $("error").textContent = String(message).replace(/\s+/g, " ").trim();
  $("error").title = $("error").textContent;
  $("error").hidden = false;
}

async function submit(event) {
  event.preventDefault();
  const started = performance.now();
  $("error").hidden = true;
  $("submit").disabled = true;
  $("status").textContent = "asking the server…";
  try {
    const request = { objective: $("objective").value };
    const b = budget();
    if (b) request.budget = b;
    const w = await workload();
    const answer = await api("/v1/recommend", { ...w.body, ...request });
    state.answer = answer;  // what the download gives: the API's answer as it came
    render(answer, w.name || answer.network, w.notes || []);
    requestAnimationFrame(() => {
      const ms = performance.now() - started;
      $("design").dataset.shownMs = ms.toFixed(1);
      $("status").textContent = `answered in ${num(ms, 3)} ms`;
    });
  } catch (err) {
    $("status").textContent = "";
    $("design").hidden = true;  // an answer to an earlier question would read as this one's
    $("details").hidden = true;
    showError(err instanceof ApiError ? err.message : `unexpected: ${err.message}`);
  } finally {
    $("submit").disabled = false;
  }
}

// -- the answer -----------------------------------------------------------------------------------
function fillList(dl, rows) {
  dl.replaceChildren();
  for (const [term, text, attrs] of rows) {
    const dt = document.createElement("dt");
    const dd = document.createElement("dd");
    dt.textContent = term; dd.textContent = text;
    for (const [k, v] of Object.entries(attrs || {})) dd.dataset[k] = String(v);
    dl.append(dt, dd);
  }
}

function render(answer, workloadName, notes) {
  const hw = answer.hardware;
  const t = answer.total;
  const limit = (key, unit) => (answer.budget[key] === null || answer.budget[key] === undefined
    ? "no limit" : `${num(answer.budget[key])} ${unit}`);
  $("design-title").textContent = `Recommended design for ${workloadName}, by ${answer.objective}`;
  const knob = (name) => ({ knob: name, value: hw[name] });
  fillList($("hardware"), [
    ["PE array rows", `${hw.pe_rows} PEs`, knob("pe_rows")],
    ["PE array columns", `${hw.pe_cols} PEs`, knob("pe_cols")],
    ["L1 per PE", `${num(hw.l1_bytes)} B`, knob("l1_bytes")],
    ["L2 (shared)", `${num(hw.l2_kib)} KiB`, knob("l2_kib")],
    ["NoC bandwidth", `${num(hw.noc_words_per_cycle)} words/cycle`, knob("noc_words_per_cycle")],
    ["DRAM bandwidth", `${num(hw.dram_bytes_per_cycle)} B/cycle`, knob("dram_bytes_per_cycle")],
    ["Dataflow", `${DATAFLOWS[hw.dataflow] || hw.dataflow} (${hw.dataflow})`, knob("dataflow")],
  ]);
  fillList($("totals"), [
    ["Latency", `${num(t.seconds * 1e3)} ms`, { total: "latency_ms" }],
    ["Energy", `${num(t.energy_pj * 1e-9)} mJ`, { total: "energy_mj" }],
    ["EDP", `${num(t.edp * 1e-6)} mJ·ms`, { total: "edp_mj_ms" }],
    ["Area", `${num(t.area_mm2)} mm² (budget: ${limit("area_mm2", "mm²")})`],
    ["Power", `${num(t.power_mw)} mW (budget: ${limit("power_mw", "mW")})`],
    ["Utilisation", pct(t.utilization)],
    ["Bound by", t.bound],
    ["Work", `${num(t.macs / 1e9)} GMAC in ${answer.layers ? answer.layers.length : "?"} layers`],
    ["Server time", `${num(answer.timings_ms.total)} ms (source: ${answer.source})`],
  ]);
  const summary = answer.explanation ? answer.explanation.summary : "";
  $("summary").textContent = [summary, ...notes].filter(Boolean).join(". ");
  $("design").dataset.workload = workloadName;
  $("design").hidden = false;
  $("details").hidden = false;
  renderLayers(answer.layers || []);
  renderWhatIf(answer.explanation ? answer.explanation.what_if : [], answer.objective);
  renderPlot(answer.layers || []);
}

// head: column titles; a title ending in "<" is a text column (left-aligned, "<" dropped)
function table(el, head, rows) {
  el.replaceChildren();
  const tr = el.createTHead().insertRow();
  for (const h of head) {
    const th = document.createElement("th");
    th.textContent = h.replace(/<$/, "");
    if (h.endsWith("<")) th.className = "text";
    tr.append(th);
  }
  const body = el.createTBody();
  for (const row of rows) {
    const r = body.insertRow();
    for (const cell of row) {
      const td = r.insertCell();
      const [text, cls] = Array.isArray(cell) ? cell : [cell, ""];
      td.textContent = text;
      if (cls) td.className = cls;
    }
  }
}

function shapeText(l) {
  const dims = `K${l.k} C${l.c} P${l.p} Q${l.q} R${l.r} S${l.s}`;
  return `${l.n > 1 ? `N${l.n} ` : ""}${dims}${l.stride > 1 ? ` /${l.stride}` : ""}` +
    `${l.groups > 1 ? ` g${l.groups}` : ""}`;
}

function renderLayers(layers) {
  const rows = layers.map((r, i) => [
    `${i + 1}`, [r.layer.name, "text"], [r.layer.op, "text"], [shapeText(r.layer), "text"],
    `${num(r.repeat ?? 1)}×`, `${num(r.cost.macs / 1e6)} M`, `${num(r.cost.seconds * 1e6)} µs`,
    `${num(r.cost.energy_pj * 1e-6)} µJ`, pct(r.cost.utilization), [r.cost.bound, "text"],
    [Object.entries(r.mapping).map(([k, v]) => `${k}=${v}`).join(" "), "text"],
  ]);
  table($("layers"), ["#", "layer<", "op<", "shape<", "runs", "MACs", "latency", "energy",
    "utilisation", "bound<", "mapping (tiles, loop order)<"], rows);
}

function renderWhatIf(whatIf, objective) {
  const rows = whatIf.map((w) => [
    [w.knob, "text"], [w.move, "text"], [knobValue(w.knob, w.value), "text"],
    w.objective_ratio === null ? "unmappable" : `${num(w.objective_ratio)}×`,
    `${num(w.area_mm2)} mm²`, `${num(w.power_mw)} mW`, [w.fits ? "yes" : "no", w.fits ? "" : "bad"],
  ]);
  table($("what-if"), ["knob<", "move<", "new value<", `${objective} vs answer`, "area",
    "power", "fits budget"], rows);
}

const KNOB_UNITS = { pe_rows: "PEs", pe_cols: "PEs", l1_bytes: "B", l2_kib: "KiB",
                     noc_words_per_cycle: "words/cycle", dram_bytes_per_cycle: "B/cycle" };

function knobValue(knob, value) {
  if (knob === "dataflow") return `${DATAFLOWS[value] || value} (${value})`;
  return `${num(Number(value))} ${KNOB_UNITS[knob] || ""}`.trim();
}

// -- the chart: latency per layer (µs, every run of the layer), coloured by what bounds it -------
function el(name, attrs, text) {
  const node = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function niceMax(x) {
  const step = 10 ** Math.floor(Math.log10(x || 1));
  return [1, 2, 2.5, 5, 10].map((m) => m * step).find((v) => v >= x) || x;
}

function renderPlot(layers) {
  const W = 1000, H = 290, left = 64, right = 12, top = 34, bottom = 40;
  const us = layers.map((r) => r.cost.seconds * 1e6 * (r.repeat ?? 1));
  const ymax = niceMax(Math.max(...us, 0));
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, role: "img",
    "aria-label": "latency per layer in microseconds, coloured by bound" });
  const plotW = W - left - right, plotH = H - top - bottom;
  for (let i = 0; i <= 4; i++) {
    const v = (ymax * i) / 4, y = top + plotH - (plotH * i) / 4;
    svg.append(el("line", { x1: left, x2: W - right, y1: y, y2: y, class: i ? "grid" : "axis" }));
    svg.append(el("text", { x: left - 6, y: y + 4, "text-anchor": "end" }, `${num(v)} µs`));
  }
  const bw = plotW / Math.max(layers.length, 1);
  layers.forEach((r, i) => {
    const h = ymax ? (plotH * us[i]) / ymax : 0;
    const bar = el("rect", { x: left + i * bw + bw * 0.1, y: top + plotH - h,
      width: Math.max(bw * 0.8, 1), height: h, fill: BOUND_COLOURS[r.cost.bound] || "#888" });
    bar.append(el("title", {}, `${r.layer.name}: ${num(us[i])} µs, ${r.cost.bound}-bound`));
    svg.append(bar);
  });
  const every = Math.ceil(layers.length / 20);
  layers.forEach((_, i) => {
    const last = i === layers.length - 1 && i % every >= every / 2;
    if (i % every === 0 || last) {
      svg.append(el("text", { x: left + (i + 0.5) * bw, y: top + plotH + 14,
        "text-anchor": "middle" }, `${i + 1}`));
    }
  });
  svg.append(el("text", { x: left + plotW / 2, y: H - 6, "text-anchor": "middle" },
    "layer (# in the table below)"));
  const bounds = [...new Set(layers.map((r) => r.cost.bound))];
  bounds.forEach((b, i) => {
    const x = W - right - (bounds.length - i) * 120;
    svg.append(el("rect", { x, y: 4, width: 12, height: 12, fill: BOUND_COLOURS[b] || "#888" }));
    svg.append(el("text", { x: x + 16, y: 14 }, `${b}-bound`));
  });
  $("plot").replaceChildren(svg);
}

// -- download -------------------------------------------------------------------------------------
function download() {
  if (!state.answer) return;
  const blob = new Blob([JSON.stringify(state.answer, null, 2)], { type: "application/json" });
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = `airchitect-${$("design").dataset.workload.replace(/[^\w.-]+/g, "_")}.json`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

// -- start ----------------------------------------------------------------------------------------
async function start() {
  $("query").addEventListener("submit", submit);
  $("download").addEventListener("click", download);
  for (const radio of document.querySelectorAll("input[name=source]")) {
    radio.addEventListener("change", showFields);
  }
  $("network").addEventListener("change", showFields);
  $("llm-config").addEventListener("change", showFields);
  try {
    const [catalogue, health] = await Promise.all([api("/v1/workloads"), api("/v1/health")]);
    state.catalogue = catalogue;
    state.maxBodyBytes = health.limits.max_body_bytes;
    for (const net of catalogue.networks) $("network").append(option(net.name, net.name));
    $("network").value = catalogue.networks.some((n) => n.name === "resnet50")
      ? "resnet50" : catalogue.networks[0].name;
    for (const name of catalogue.llm_configs) $("llm-config").append(option(name, name));
    $("llm-config").append(option(UPLOAD, "upload a config.json…"));
    // base64 makes a file 4/3 larger, and the JSON around it takes a little more
    const mib = (state.maxBodyBytes * 0.74) / (1 << 20);
    $("onnx-limit").textContent =
      `at most ${num(mib)} MiB (airchitect serve --max-body-bytes raises it)`;
    showFields();
    document.body.dataset.ready = "true";
  } catch (err) {
    showError(`cannot load the workload list: ${err.message}`);
  }
}

document.addEventListener("DOMContentLoaded", start);
