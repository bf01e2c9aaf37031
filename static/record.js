// Record a span of training as an animation (docs/page.md, "Record"), and "record what I see".
//
// Record: at Start the page takes a snapshot of the session (the state at epoch A) and notes how
// many live edits the experiment holds; at Stop (epoch B) it sends the snapshot, the edits made
// since, A..B, the frame interval and the view to POST /api/animate. The server keeps nothing: it
// replays the span (training is deterministic), renders the frames with its one renderer and
// returns the GIF, WebP or APNG, the bytes `ganlab train --animate` writes for the same span.
// "Save since": the same from one of the session's recent snapshots (those the page keeps for
// reconnection, every few seconds while training): the last epochs, without pressing Start first.
// recordSpan() is the same request for any snapshot (e.g. a run's, from the Runs panel).
//
// Record what I see: the browser's MediaRecorder on the visible canvas (WebM); the button is
// hidden where MediaRecorder, canvas.captureStream or WebM is missing.

export const MAX_FRAMES = 500; // as the server's (ganlab/runs/span.py)
const KEEP = {json: 16, binary: 4}; // recent snapshots kept for "Save since" (binary: megabytes each)
const SUFFIX = {gif: "gif", webp: "webp", apng: "png"};
// The page's toggles -> the renderer's layers (samples = real and fake, arrows = dD/dx).
const LAYER_MAP = {heatmap: ["heatmap"], samples: ["real", "fake"], arrows: ["d_grad"], manifold: ["manifold"]};

/** The frame interval giving at most `frames` frames (A, A + every, ..., B) for a span. */
export function everyFor(span, frames) {
  const f = Math.max(2, Math.min(MAX_FRAMES, frames | 0));
  let every = Math.max(1, Math.ceil(span / (f - 1)));
  while (Math.floor(span / every) + 1 + (span % every ? 1 : 0) > f) every++;
  return every;
}

/** The epoch of a snapshot: a JSON one's field, or a binary one's header (snapshot_bin.py). */
export function snapshotEpoch(snap) {
  if (!(snap instanceof ArrayBuffer)) return snap.epoch;
  const len = new DataView(snap, 12, 4).getUint32(0, true);
  return JSON.parse(new TextDecoder().decode(new Uint8Array(snap, 16, len))).epoch;
}

/** POST api/animate (beside the page): resolves with {blob, frames}; rejects with the server's message. */
export async function recordSpan({snapshot, edits = [], to, every, format = "gif", layers, legend = true, epoch = true, size = 400, grid = "8x8"}) {
  const req = {to, every, format, edits, legend, epoch, size, grid};
  if (layers) req.layers = layers;
  let body, url = "api/animate", type = "application/json";
  if (snapshot instanceof ArrayBuffer) { // an image model: the binary snapshot after the JSON
    const head = new TextEncoder().encode(JSON.stringify(req));
    body = new Blob([head, snapshot]);
    url += `?split=${head.length}`;
    type = "application/octet-stream";
  } else body = JSON.stringify({...req, snapshot});
  const r = await fetch(url, {method: "POST", body, headers: {"Content-Type": type}});
  if (!r.ok) {
    let msg = `HTTP ${r.status}`;
    try { msg = (await r.json()).error || msg; } catch { /* not JSON */ }
    throw new Error(msg);
  }
  return {blob: await r.blob(), frames: Number(r.headers.get("X-Frames"))};
}

/** Whether this browser can record a canvas as WebM. */
export function canRecordWebm(canvas) {
  return typeof MediaRecorder !== "undefined" && typeof canvas?.captureStream === "function" &&
    (MediaRecorder.isTypeSupported?.("video/webm") ?? false);
}

export class RecordControl {
  /** page: {session(), edits(), epoch(), imageMode(), layers(), canvas(), name(), say(msg, kind), download(name, blob)} */
  constructor(root, page) {
    this.root = root;
    this.page = page;
    this.start = null; // {snapshot, epoch, edits: index into the experiment's edits}
    this.busy = false;
    this.live = null; // the MediaRecorder while recording what I see
    this.kept = []; // recent snapshots of this experiment: {snapshot, epoch, edits}, oldest first
    const $ = (id) => root.querySelector(`#${id}`);
    this.el = {start: $("record-start"), status: $("record-status"), format: $("record-format"),
      frames: $("record-frames"), live: $("record-live"), layers: root.querySelectorAll("[data-record-layer]"),
      from: $("record-from"), since: $("record-since"), sinceRow: $("record-since-row")};
    this.el.start.addEventListener("click", () => this.toggle().catch(() => {}));
    this.el.since.addEventListener("click", () => this.saveSince());
    this.el.live.hidden = !canRecordWebm(page.canvas());
    this.el.live.addEventListener("click", () => this.toggleLive());
    this.show();
  }

  /** The options as the page shows them. */
  options() {
    const on = new Set([...this.el.layers].filter((x) => x.checked).map((x) => x.dataset.recordLayer));
    const layers = Object.entries(LAYER_MAP).filter(([k]) => on.has(k)).flatMap(([, v]) => v);
    return {format: this.el.format.value, frames: Number(this.el.frames.value) || 100, layers,
      legend: on.has("legend"), epoch: on.has("epoch")};
  }

  show(text) {
    const rec = !!this.start;
    this.el.start.textContent = this.busy ? "Rendering…" : rec ? "■ Stop and download" : "● Start recording";
    this.el.start.setAttribute("aria-pressed", String(rec));
    this.el.start.disabled = this.busy;
    this.el.since.disabled = this.busy;
    this.root.classList.toggle("recording", rec);
    if (text !== undefined) this.el.status.textContent = text;
  }

  async toggle() { return this.start ? this.stop() : this.begin(); }

  /** Start: the state at epoch A (a snapshot) and where the experiment's edits stand. */
  async begin() {
    const {page} = this;
    try {
      const snapshot = await page.session().refreshSnapshot();
      this.start = {snapshot, epoch: snapshotEpoch(snapshot), edits: page.edits().length};
    } catch (e) {
      page.say(`Record: ${e.message}`, "error");
      throw e;
    }
    this.show(`Recording from epoch ${this.start.epoch}: train, then stop.`);
  }

  /** Training started again (reset, a restart, new data): the snapshots no longer lead here. */
  cancel(reason) {
    this.kept = [];
    this.showKept();
    if (!this.start) return;
    this.start = null;
    this.show(`Recording stopped: ${reason}.`);
  }

  /** A snapshot the session just took (with the experiment's edit count then): kept for "Save
   * since", a few, newest last; one at an earlier epoch (a restore went back) drops the later. */
  keep(snapshot, edits) {
    if (!snapshot) return;
    const epoch = snapshotEpoch(snapshot);
    this.kept = this.kept.filter((k) => k.epoch < epoch);
    this.kept.push({snapshot, epoch, edits});
    const max = snapshot instanceof ArrayBuffer ? KEEP.binary : KEEP.json;
    if (this.kept.length > max) this.kept.splice(0, this.kept.length - max);
    this.showKept();
  }

  showKept() {
    const sel = this.el.from, was = sel.value;
    sel.replaceChildren(...[...this.kept].reverse().map((k) => new Option(`epoch ${k.epoch}`, String(k.epoch))));
    if ([...sel.options].some((o) => o.value === was)) sel.value = was;
    this.el.sinceRow.hidden = !this.kept.length;
  }

  /** Save the epochs since a kept snapshot, up to now. */
  async saveSince() {
    const k = this.kept.find((x) => String(x.epoch) === this.el.from.value);
    if (!k || this.busy) return;
    if (this.page.epoch() <= k.epoch) { this.show(`Nothing to record yet: train past epoch ${k.epoch}.`); return; }
    await this.save(k);
  }

  /** Stop at epoch B: the server replays A..B and sends the file. */
  async stop() {
    const {page, start} = this;
    if (page.epoch() <= start.epoch) { this.show(`Nothing to record yet: train past epoch ${start.epoch}, then stop.`); return; }
    this.start = null;
    await this.save(start);
  }

  /** The span from `start` ({snapshot, epoch, edits}) to the epoch now, rendered and downloaded. */
  async save(start) {
    const {page} = this;
    const to = page.epoch(), span = to - start.epoch;
    const o = this.options(), every = everyFor(span, o.frames);
    const edits = page.edits().slice(start.edits).filter((e) => e.epoch >= start.epoch && e.epoch <= to);
    this.busy = true;
    this.show(`Rendering epochs ${start.epoch}–${to}, a frame every ${every}…`);
    try {
      const {blob, frames} = await recordSpan({snapshot: start.snapshot, edits, to, every, format: o.format,
        layers: o.layers, legend: o.legend, epoch: o.epoch});
      page.download(`${page.name()}-epochs${start.epoch}-${to}.${SUFFIX[o.format]}`, blob);
      this.busy = false;
      this.show(`Saved ${frames} frames (epochs ${start.epoch}–${to}), ${(blob.size / 1024).toFixed(0)} kB.`);
    } catch (e) {
      this.busy = false;
      this.show(`Not saved: ${e.message}`);
      page.say(`Record: ${e.message}`, "error");
    }
  }

  /** Record what I see: the canvas as WebM, until pressed again. */
  toggleLive() {
    const b = this.el.live;
    if (this.live) { this.live.stop(); return; }
    const canvas = this.page.canvas();
    const rec = new MediaRecorder(canvas.captureStream(30), {mimeType: "video/webm"});
    const parts = [];
    rec.ondataavailable = (e) => { if (e.data.size) parts.push(e.data); };
    rec.onstop = () => {
      this.live = null;
      b.textContent = "Record what I see (WebM)";
      b.setAttribute("aria-pressed", "false");
      const blob = new Blob(parts, {type: "video/webm"});
      this.page.download(`${this.page.name()}-view.webm`, blob);
      this.el.status.textContent = `Saved what you saw: ${(blob.size / 1024).toFixed(0)} kB of WebM.`;
    };
    rec.start(250);
    this.live = rec;
    b.textContent = "■ Stop (WebM)";
    b.setAttribute("aria-pressed", "true");
  }
}
