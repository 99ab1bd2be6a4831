// The labelling page: plain JavaScript, relative URLs, no external assets.
"use strict";

const KEYS = { "1": "single-hit", "2": "multi-hit", "3": "non-sample-hit", "4": "no-hit",
               "5": "unknown", "6": "needs-help" };
const COLOURS = { "single-hit": "#6fdc8c", "multi-hit": "#ff9f5a", "non-sample-hit": "#c792ea",
                  "no-hit": "#9aa3ad", "unknown": "#ffd479", "needs-help": "#ff6b6b" };
const GRID = 12;  // frames per grid page
// Each tab has its own id, so that undo undoes this tab's last label, not another tab's.
const TAB = sessionStorage.getItem("skspeckle-tab") ||
  (() => { const t = Math.random().toString(36).slice(2); sessionStorage.setItem("skspeckle-tab", t); return t; })();

let S = null;          // the last /api/state
let orderMode = "active";
let layout = "one";
let pos = 0;           // position in the current order
let focus = 0;         // focused cell of the grid page
let mapData = null;

const $ = (id) => document.getElementById(id);
const frameUrl = (i) => `frame/${i}.png`;

function say(text, isError) {
  $("message").textContent = text || "";
  $("message").style.color = isError ? "#ff6b6b" : "#ffd479";
}

async function api(path, options) {
  const response = await fetch(path, options);
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}
const post = (path, data) => api(path, { method: "POST", headers: { "Content-Type": "application/json" },
                                          body: JSON.stringify(data || {}) });

function order() {
  if (!S) return [];
  if (orderMode === "run") return [...Array(S.n_frames).keys()];
  return S.order.length ? S.order : [...Array(S.n_frames).keys()];
}

async function refresh() {
  const keep = S ? order()[pos] : undefined;
  S = await api("api/state");
  // The active-learning order changes after a retrain: stay on the same frame when it is there.
  const o = order();
  if (keep !== undefined && o.indexOf(keep) >= 0 && orderMode === "run") pos = o.indexOf(keep);
  pos = Math.min(pos, Math.max(0, o.length - 1));
  render();
}

function describe(i) {
  const lab = S.labels[i];
  const parts = [`<div class="big">frame ${i}</div>`,
    `<div>label: <b class="label-${lab || "none"}">${lab || "—"}</b></div>`];
  if (S.predictions) {
    parts.push(`<div>prediction: <b class="label-${S.predictions[i]}">${S.predictions[i]}</b>` +
               ` (p = ${S.confidence[i].toFixed(2)})</div>`,
               `<div>uncertainty ${S.uncertainty[i].toFixed(2)} · novelty ${S.novelty[i].toFixed(2)}</div>`);
  } else {
    parts.push("<div>no prediction yet: label frames of two classes, then Retrain</div>");
  }
  return parts.join("");
}

function prefetch(indices) {
  for (const i of indices) { const img = new Image(); img.src = frameUrl(i); }
}

function render() {
  $("run").textContent = `${S.run} · ${S.n_frames} frames · labels: ${S.labels_file} · ` +
    `model: ${S.model || "none (PCA map)"} · embedding: ${S.embedding}`;
  const counts = Object.entries(S.counts).map(([k, v]) => `${k} ${v}`).join(" · ");
  const o = order();
  $("position").textContent = `${pos + 1} / ${o.length} in ${orderMode === "run" ? "run" : "active-learning"} order · ${counts}`;
  $("order").textContent = `Order: ${orderMode === "run" ? "run" : "active learning"}`;
  $("layout").textContent = `Layout: ${layout === "one" ? "one frame" : "grid"}`;
  renderJob();
  if (layout === "one") {
    $("single").hidden = false; $("grid").hidden = true;
    const i = o[pos];
    if (i === undefined) { $("info").textContent = "no frames left in this order"; return; }
    if ($("frame").dataset.index !== String(i)) { $("frame").src = frameUrl(i); $("frame").dataset.index = i; }
    $("info").innerHTML = describe(i);
    prefetch(o.slice(pos + 1, pos + 5));
  } else {
    $("single").hidden = true; $("grid").hidden = false;
    const start = Math.floor(pos / GRID) * GRID;
    focus = pos - start;
    const cells = o.slice(start, start + GRID).map((i, k) => {
      const lab = S.labels[i], pred = S.predictions ? S.predictions[i] : null;
      return `<div class="cell${k === focus ? " focus" : ""}" data-pos="${start + k}">` +
        `<img src="${frameUrl(i)}" alt="frame ${i}"><div class="tag">#${i} ` +
        `<b class="label-${lab || "none"}">${lab || ""}</b>${pred ? ` <i>(${pred})</i>` : ""}</div></div>`;
    });
    $("grid").innerHTML = cells.join("");
    for (const cell of $("grid").children) cell.onclick = () => { pos = Number(cell.dataset.pos); render(); };
    prefetch(o.slice(start + GRID, start + 2 * GRID));
  }
}

function renderJob() {
  const job = S.job || {};
  const bar = $("job-progress");
  if (job.state === "running") {
    bar.hidden = false; bar.max = job.max_epochs || 1; bar.value = job.epoch || 0;
    $("job").textContent = `embedder: epoch ${job.epoch || 0}/${job.max_epochs}`;
  } else {
    bar.hidden = true;
    $("job").textContent = job.state && job.state !== "idle" ? `embedder: ${job.state} (${job.message || ""})` : "";
  }
  $("export-model").style.opacity = S.model ? 1 : 0.4;
}

async function setLabel(label) {
  const o = order();
  const i = o[pos];
  if (i === undefined) return;
  try {
    await post("api/label", { index: i, label: label, tab: TAB });
    S.labels[i] = label;
    say(label ? `frame ${i}: ${label} (saved)` : `frame ${i}: label cleared (saved)`);
    if (label && pos < o.length - 1) pos += 1;
    await refresh();
  } catch (e) { say(e.message, true); }
}

async function undo() {
  try {
    const r = await post("api/undo", { tab: TAB });
    if (r.index === null) { say("nothing to undo in this tab"); return; }
    await refresh();
    const p = order().indexOf(r.index);
    if (p >= 0) pos = p;
    say(`undone: frame ${r.index}`);
    render();
  } catch (e) { say(e.message, true); }
}

async function retrain() {
  say("retraining the supports…");
  try {
    const r = await post("api/retrain");
    orderMode = "active"; pos = 0;
    await refresh();
    say(`retrained: ${r.n_supports} supports of ${r.classes.join(", ")} in ${r.seconds} s; predictions updated`);
    if (!$("review-view").hidden) loadReview();
  } catch (e) { say(e.message, true); }
}

async function trainEmbedder() {
  try {
    await post("api/embedder");
    say("training the embedder in the background; labelling goes on");
    pollJob();
  } catch (e) { say(e.message, true); }
}

async function pollJob() {
  await refresh();
  if (S.job && S.job.state === "running") setTimeout(pollJob, 1000);
  else if (S.job && S.job.state === "done") say(`embedder trained (${S.job.message}); frames embedded again, supports refitted`);
  else if (S.job && S.job.state === "failed") say(`embedder failed: ${S.job.message}`, true);
}

function move(step) {
  const n = order().length;
  pos = Math.max(0, Math.min(n - 1, pos + step));
  render();
}

document.addEventListener("keydown", (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey || !S) return;
  if (!$("label-view").hidden || e.key === "r") {
    if (KEYS[e.key]) { e.preventDefault(); setLabel(KEYS[e.key]); return; }
    switch (e.key) {
      case "0": setLabel(null); break;
      case "u": case "Backspace": e.preventDefault(); undo(); break;
      case "ArrowRight": case " ": e.preventDefault(); move(1); break;
      case "ArrowLeft": e.preventDefault(); move(-1); break;
      case "ArrowDown": if (layout === "grid") { e.preventDefault(); move(6); } break;
      case "ArrowUp": if (layout === "grid") { e.preventDefault(); move(-6); } break;
      case "g": layout = layout === "one" ? "grid" : "one"; render(); break;
      case "o": orderMode = orderMode === "run" ? "active" : "run"; pos = 0; render(); break;
      case "r": retrain(); break;
    }
  }
});

// ---------------------------------------------------------------- review
function thumb(i) {
  const lab = S.labels[i] || "", pred = S.predictions ? S.predictions[i] : "";
  return `<img src="${frameUrl(i)}" data-index="${i}" title="frame ${i} ${lab} ${pred ? "→ " + pred : ""}">`;
}

function pick(i) {
  $("picked").src = frameUrl(i);
  $("picked-info").innerHTML = describe(i);
}

async function loadReview() {
  const r = await api("api/review");
  $("counts").innerHTML = "<tr><th>label</th><th>frames</th><th>predicted</th></tr>" +
    Object.entries(r.counts).map(([k, v]) => {
      const predicted = S.predictions ? S.predictions.filter((p) => p === k).length : "—";
      return `<tr><td class="label-${k}">${k}</td><td>${v}</td><td>${predicted}</td></tr>`;
    }).join("");
  if (r.confusion) {
    const c = r.confusion;
    $("confusion").innerHTML = `<table><tr><th>label \\ predicted</th>${c.classes.map((k) => `<th>${k}</th>`).join("")}</tr>` +
      c.matrix.map((row, a) => `<tr><th>${c.classes[a]}</th>${row.map((v) => `<td>${v}</td>`).join("")}</tr>`).join("") +
      `</table><div>${c.n_folds}-fold cross-validation over the labelled frames</div>`;
  } else {
    $("confusion").textContent = "needs 2 or more labelled frames in each of two classes";
  }
  $("least-sure").innerHTML = r.least_sure.length ? r.least_sure.map(thumb).join("") : "retrain first";
  $("supports").innerHTML = Object.entries(r.supports).map(([k, idx]) =>
    `<div><b class="label-${k}">${k}</b> (${idx.length})<div class="gallery">${idx.map(thumb).join("")}</div></div>`).join("");
  for (const img of document.querySelectorAll(".gallery img")) img.onclick = () => pick(Number(img.dataset.index));
  mapData = await api("api/map");
  $("map-title").textContent = `Embedding map (${mapData.method.toUpperCase()}), colour: label, else prediction (faint)`;
  drawMap();
}

function mapScale() {
  const c = $("map"), pad = 10;
  const xs = mapData.x, ys = mapData.y;
  const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
  return (i) => [pad + (xs[i] - x0) / ((x1 - x0) || 1) * (c.width - 2 * pad),
                 c.height - pad - (ys[i] - y0) / ((y1 - y0) || 1) * (c.height - 2 * pad)];
}

function drawMap() {
  const c = $("map"), g = c.getContext("2d");
  g.clearRect(0, 0, c.width, c.height);
  const at = mapScale();
  for (let i = 0; i < mapData.x.length; i++) {
    const lab = S.labels[i], pred = S.predictions ? S.predictions[i] : null;
    const [x, y] = at(i);
    g.globalAlpha = lab ? 1 : 0.45;
    g.fillStyle = COLOURS[lab || pred] || "#5a6270";
    g.beginPath(); g.arc(x, y, lab ? 4 : 2.5, 0, 2 * Math.PI); g.fill();
  }
  g.globalAlpha = 1;
  $("map-legend").innerHTML = Object.entries(COLOURS).map(([k, v]) => `<span style="color:${v}">● ${k}</span>`).join("");
}

$("map").addEventListener("click", (e) => {
  if (!mapData) return;
  const rect = $("map").getBoundingClientRect();
  const px = (e.clientX - rect.left) * $("map").width / rect.width;
  const py = (e.clientY - rect.top) * $("map").height / rect.height;
  const at = mapScale();
  let best = -1, bestD = Infinity;
  for (let i = 0; i < mapData.x.length; i++) {
    const [x, y] = at(i), d = (x - px) ** 2 + (y - py) ** 2;
    if (d < bestD) { bestD = d; best = i; }
  }
  if (best >= 0) pick(best);
});

function show(view) {
  $("label-view").hidden = view !== "label";
  $("review-view").hidden = view !== "review";
  $("view-label").classList.toggle("active", view === "label");
  $("view-review").classList.toggle("active", view === "review");
  if (view === "review") loadReview().catch((e) => say(e.message, true));
}

// A clicked button keeps the focus, and space or Enter would press it again: the keys are
// for labelling, so give the focus back to the page.
document.addEventListener("click", (e) => { if (e.target.tagName === "BUTTON") e.target.blur(); });
$("view-label").onclick = () => show("label");
$("view-review").onclick = () => show("review");
$("retrain").onclick = retrain;
$("embedder").onclick = trainEmbedder;
$("order").onclick = () => { orderMode = orderMode === "run" ? "active" : "run"; pos = 0; render(); };
$("layout").onclick = () => { layout = layout === "one" ? "grid" : "one"; render(); };
// Other tabs label too: pick up their changes every few seconds.
setInterval(() => { if (document.visibilityState === "visible") refresh().catch(() => {}); }, 4000);
refresh().then(() => { if (S.job && S.job.state === "running") pollJob(); })
         .catch((e) => say(`cannot reach the server: ${e.message}`, true));
