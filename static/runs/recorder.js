// Recording the page's experiment as a run (docs/runs.md), from its start (reset, restart, new
// data, a restored state) to now: the config at the start (from the snapshot taken at once), the
// live edits with their epochs, a metric row per frame that carries metrics, a bounded set of
// snapshots (the session's own refreshes: socket.js keeps one at most 5 s old while training),
// and 96 px thumbnails of the data view (or the digits grid) every few seconds of training.
// Snapshots are kept as the server sent them: JSON for 2D models, binary (the trainer's binary
// snapshot, megabytes) for image models; a JSON one over BIN_ABOVE (the largest 2D models) is kept
// binary too (snapbin.js: a third of the bytes, and a restore takes it in one message).
// The run is saved to IndexedDB (store.js) every few seconds; a failing store keeps it in memory
// and says so.
//
// Rewind (rewind.js): `retrace` marks the current run as being replayed from a snapshot; rows,
// snapshots and thumbnails up to its end are already there (the engine is deterministic) and
// are not recorded twice. A change during the retrace makes a branch (rewind.js).

import {FORMAT, VERSION, snapshotName, thumbName, encode, decode, binHeader} from "./names.js";
import {toBinary} from "./snapbin.js";

export const MAX_SNAPSHOTS = 40;            // per run; past it the snapshots thin out, log-spaced
export const SNAPSHOT_BUDGET = 32 << 20;    // bytes of snapshots per run (an MNIST model's are ~5 MB)
export const BIN_ABOVE = 1 << 20;           // bytes of JSON above which a snapshot is kept binary
const ASK_RATE = 1 << 20;                   // bytes of snapshot per second of training, at most
export const MAX_THUMBS = 120;              // per run; past it every other one goes
export const MAX_ROWS = 5000;               // metric rows per run; past it every other one goes
export const THUMB_SIZE = 96;
const THUMB_EVERY = 2000;                   // ms of training between thumbnails
const SNAPSHOT_EVERY = 1000;                // ms of training between snapshots asked for (2D: ~7 kB each;
                                            // a bigger model's less often: ASK_RATE)
const SAVE_EVERY = 3000;                    // ms between saves of a changing run

let counter = 0;
const newId = () => `r${Date.now().toString(36)}${(counter++).toString(36)}${Math.random().toString(36).slice(2, 6)}`;

/** A run held in memory: its manifest, rows and files, and what the store already has. */
export class Run {
  constructor(manifest, rows = [], files = new Map(), id = newId()) {
    this.id = id;
    this.m = manifest;
    this.rows = rows;
    this.files = files;
    this.saved = new Set();   // file names the store holds
    this.gone = [];           // file names to delete from the store
    this.createdMs = Date.now();
    this.dirty = true;
    this.stored = false;
  }

  get pinned() { return !!this.m.notes?.pinned; }
  bytes() { let n = 0; for (const v of this.files.values()) n += v.length; return n + 200 * this.rows.length; }

  manifest() {
    const rows = this.rows, every = [];
    for (let i = 1; i < rows.length; i++) every.push(rows[i].epoch - rows[i - 1].epoch);
    every.sort((a, b) => a - b);
    return {...this.m, metrics: {file: "metrics.jsonl", every: Math.max(1, every[every.length >> 1] || 1), rows: rows.length},
      final: rows.length ? rows[rows.length - 1] : null};
  }

  record() {
    return {id: this.id, name: this.m.name, created: this.createdMs, updated: Date.now(), pinned: this.pinned,
      bytes: this.bytes(), manifest: this.manifest(), rows: this.rows};
  }

  /** The run file (a Blob): format.js loads when first asked for. */
  async toFile() { const {toFile} = await import("./format.js"); return toFile(this.manifest(), this.rows, this.files); }

  addFile(name, data) { this.files.set(name, data); this.gone = this.gone.filter((n) => n !== name); }
  dropFile(name) { this.files.delete(name); if (this.saved.has(name)) { this.saved.delete(name); this.gone.push(name); } }

  snapshotAt(epoch) { return this.m.snapshots.find((s) => s.epoch === epoch) || null; }
  /** The snapshot at `epoch` as `restore` takes it: an object, or a binary one's bytes. */
  snapshot(epoch) {
    const s = this.snapshotAt(epoch);
    if (!s) return null;
    const u8 = this.files.get(s.file);
    return s.kind === "bin" ? u8.slice().buffer : decode(u8);
  }

  /** The config in force at a snapshot. */
  configAt(epoch) {
    const s = this.snapshotAt(epoch);
    return s.kind === "bin" ? binHeader(this.files.get(s.file)).config : this.snapshot(epoch).config;
  }
}

/** Bytes of a thumbnail: the canvas scaled to THUMB_SIZE px on its longer side, as PNG. */
async function thumbnail(canvas) {
  if (!canvas || !canvas.width || !canvas.height) return null;
  const k = THUMB_SIZE / Math.max(canvas.width, canvas.height);
  const c = document.createElement("canvas");
  c.width = Math.max(1, Math.round(canvas.width * k));
  c.height = Math.max(1, Math.round(canvas.height * k));
  const ctx = c.getContext("2d");
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, c.width, c.height);
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(canvas, 0, 0, c.width, c.height);
  const blob = await new Promise((res) => c.toBlob(res, "image/png"));
  return blob ? new Uint8Array(await blob.arrayBuffer()) : null;
}

/** A metric row from a frame with metrics (docs/runs.md, metrics.jsonl). */
export function frameRow(meta, seconds) {
  const L = meta.losses || {}, row = {epoch: meta.epoch, seconds: Math.round(seconds * 1000) / 1000,
    d_loss: finite(L.d), g_loss: finite(L.g)};
  for (const [k, v] of Object.entries(meta.metrics || {})) {
    row[k] = k === "hints" ? (v || []).map((h) => h.code) : typeof v === "number" ? finite(v) : v;
  }
  row.status = meta.status?.state ?? meta.state ?? "ok";
  if (!row.hints) row.hints = [];
  return row;
}
const finite = (v) => (typeof v === "number" && Number.isFinite(v) ? v : null);

export class Recorder {
  /** host: {loadStore(), say(text, kind), version, config() (nested, no snapshot yet),
   *  thumbSource() (canvas), editsInForce() (the experiment's edits), offerExport(run, text)}. */
  constructor(host) {
    this.host = host;
    this.budget = SNAPSHOT_BUDGET; // bytes of snapshots a run keeps (a test may lower it)
    this.run = null;
    this.retrace = null;      // {run, from, to, doneAt}: replaying `run` from snapshot `from`
    this.lastThumb = 0;       // performance.now() of the last thumbnail
    this.stopThumbAt = null;  // epoch of the last stop whose thumbnail was started (stopThumb)
    this.trainMs = 0;         // training time of the run
    this.lastFrame = null;    // performance.now() of the last frame of running training
    this.editBase = 0;        // experiment edits made before this run's start (a branch's)
    this.since = 0;           // performance.now() when the run began (or was opened)
    this.saving = null;
    this.listeners = new Set();
    setInterval(() => { if (this.run?.dirty) this.flush().catch(() => {}); }, SAVE_EVERY);
    addEventListener("pagehide", () => { if (this.run?.dirty) this.flush().catch(() => {}); });
  }

  changed() { for (const f of this.listeners) f(); }

  /** A new run at `epoch` (0, or a restored state's): the previous one is closed and saved.
   * `at` = {cfg, when, since, editBase}: the moment it began, when index.js replays the call. */
  begin({epoch = 0, name = null, parent = null, at = null} = {}) {
    this.close();
    const cfg = at?.cfg ?? this.host.config(), when = at?.when ?? new Date();
    const m = {format: FORMAT, version: VERSION, ganlab: this.host.version || "page", name: name || defaultName(cfg, when),
      created: when.toISOString().replace(/\.\d+Z$/, "Z"), config: cfg, start_epoch: epoch, epochs: epoch,
      duration_seconds: 0, status: "running", edits: [], metrics: {file: "metrics.jsonl", every: 1, rows: 0},
      snapshots: [], thumbs: [], media: [], thumb_size: THUMB_SIZE, parent, final: null, notes: {}};
    this.run = new Run(m);
    this.since = at?.since ?? performance.now();
    this.run.dirty = false; // nothing worth keeping until it trains
    this.retrace = null;
    this.trainMs = 0;
    this.lastFrame = null;
    this.lastThumb = 0;
    this.stopThumbAt = null;
    this.editBase = at?.editBase ?? this.host.editsInForce();
    this.wantConfig = true; // the first snapshot's config is the run's config (complete: drawings too)
    this.changed();
    return this.run;
  }

  /** A stored run becomes the current one (opened from the panel), to be rewound to its last
   * snapshot: later frames and edits go on recording it. */
  adopt(run) {
    this.close();
    if (run.m.status === "ok") run.m.status = "running";
    this.run = run;
    this.since = performance.now();
    this.retrace = null;
    this.wantConfig = false;
    this.editBase = this.host.editsInForce();
    this.trainMs = 1000 * run.m.duration_seconds;
    this.lastFrame = null;
    this.changed();
  }

  /** The run ends (a new one begins, or the page goes): saved with status ok. */
  close() {
    const r = this.run;
    if (!r) return;
    if (r.m.status === "running") r.m.status = "ok";
    if (r.m.epochs > r.m.start_epoch || r.m.edits.length) { r.dirty = true; this.flush(r).catch(() => {}); }
    this.run = null;
  }

  /** A frame: the epoch reached, training time, a metric row when it carries metrics, and a
   * thumbnail every few seconds of training. */
  onFrame(meta) {
    const r = this.run;
    if (!r || meta.epoch === undefined) return;
    const now = performance.now();
    if (meta.running && this.lastFrame !== null) this.trainMs += Math.min(1000, now - this.lastFrame);
    this.lastFrame = meta.running ? now : null;
    if (this.retrace && meta.epoch >= this.retrace.to && !this.host.replaying()) this.retrace = null;
    const known = this.retrace ? this.retrace.to : -1; // a retrace repeats what the run holds
    if (meta.epoch > r.m.epochs) { r.m.epochs = meta.epoch; r.dirty = true; }
    if (meta.epoch > known) r.m.duration_seconds = Math.round(this.trainMs) / 1000;
    if (meta.metrics && meta.epoch > known) {
      const last = r.rows[r.rows.length - 1];
      if (!last || meta.epoch > last.epoch) {
        r.rows.push(frameRow(meta, this.trainMs / 1000));
        if (r.rows.length > MAX_ROWS) r.rows = r.rows.filter((_, i) => i % 2 === 0 || i === r.rows.length - 1);
        r.dirty = true;
      }
    }
    // A snapshot every second of training and where training stops (a natural point to rewind
    // to); a thumbnail every few seconds of training and where it stops.
    if (meta.epoch <= known) return;
    const lastSnap = r.m.snapshots[r.m.snapshots.length - 1];
    // A big model's snapshot is asked for less often: at most ASK_RATE bytes per second.
    const every = Math.max(SNAPSHOT_EVERY, 1000 * (lastSnap ? r.files.get(lastSnap.file).length : 0) / ASK_RATE);
    if (!meta.running) this.onStopped(meta.epoch);
    else if (now - (this.lastAsk || 0) >= every) {
      this.lastAsk = now;
      // Only an ask that went out counts: when the session's own refresh (asked earlier, at an
      // earlier epoch) swallows it, a stop at this epoch must still ask (onStopped).
      if (this.host.askSnapshot()) this.askedAt = meta.epoch;
    }
    if (meta.running && now - this.lastThumb >= THUMB_EVERY) {
      this.lastThumb = now;
      this.addThumb(meta.epoch).catch(() => {});
    }
  }

  /** A thumbnail where training stopped, taken now even while another is being taken: one
   * deferred until that one was done could come after training resumed, when the view no
   * longer showed the stop (and was dropped, leaving the stop without its thumbnail). */
  stopThumb(epoch) {
    if (this.stopThumbAt === epoch || this.run.m.thumbs.some((t) => t.epoch === epoch)) return;
    this.stopThumbAt = epoch;
    this.lastThumb = performance.now();
    this.addThumb(epoch).catch(() => {});
  }

  /** Training stopped at `epoch` (a frame says so, or only the `status`: the server sends no new
   * frame when its last one, built while running, already showed that epoch): a snapshot there,
   * a natural point to rewind to, asked for even while another is on its way. */
  onStopped(epoch) {
    const r = this.run, last = r?.m.snapshots[r.m.snapshots.length - 1];
    this.lastFrame = null;
    if (!r || epoch < r.m.start_epoch || (this.retrace && epoch <= this.retrace.to)) return;
    this.stopThumb(epoch);
    if ((last && last.epoch >= epoch) || this.askedAt === epoch) return;
    this.lastAsk = performance.now();
    this.askedAt = epoch;
    this.host.askSnapshot(true);
  }

  async addThumb(epoch) {
    const r = this.run;
    // The view paints this frame on the next animation frame: capture after it.
    await new Promise((res) => { requestAnimationFrame(() => requestAnimationFrame(res)); setTimeout(res, 250); });
    const data = await thumbnail(this.host.thumbSource()); // copied at once, encoded after
    if (r !== this.run || !data) return;
    // Two can be taken at once (a stop's beside a periodic one) and end in either order.
    const at = r.m.thumbs.findIndex((t) => t.epoch >= epoch);
    if (at >= 0 && r.m.thumbs[at].epoch === epoch) return;
    r.addFile(thumbName(epoch), data);
    r.m.thumbs.splice(at < 0 ? r.m.thumbs.length : at, 0, {epoch, file: thumbName(epoch)});
    if (r.m.thumbs.length > MAX_THUMBS) {
      const keep = r.m.thumbs.filter((_, i, a) => i % 2 === 0 || i === a.length - 1);
      for (const t of r.m.thumbs) if (!keep.includes(t)) r.dropFile(t.file);
      r.m.thumbs = keep;
    }
    r.dirty = true;
    this.changed();
  }

  /** A snapshot the session received (a JSON object, or an image model's binary snapshot as an
   * ArrayBuffer), asked for at `sentAt` (performance.now()): one asked for before this run began
   * or was opened is the previous experiment's state. */
  onSnapshot(snap, sentAt = performance.now()) {
    const r = this.run;
    if (!r || !snap || sentAt < this.since) return;
    this.lastAsk = performance.now(); // the session's own refreshes count as asked for
    let data = snap instanceof ArrayBuffer ? new Uint8Array(snap) : null;
    const head = data ? binHeader(data) : snap;
    if (head?.format !== "ganlab-snapshot") return;
    const e = head.epoch;
    let last = r.m.snapshots[r.m.snapshots.length - 1];
    if (this.wantConfig && e === r.m.start_epoch) {
      // The state at the start: its config is the run's (complete: a drawing's strokes too).
      this.wantConfig = false;
      r.m.config = head.config;
      if (last && last.epoch === e) { r.dropFile(last.file); r.m.snapshots.pop(); last = null; }
    }
    if ((last && e <= last.epoch) || e < r.m.start_epoch || (this.retrace && e <= this.retrace.to)) return;
    const inForce = this.host.editsInForce() - this.editBase;
    const due = r.m.edits.filter((x) => x.epoch <= e).length;
    let kind = data ? "bin" : "json";
    if (!data) {
      data = encode(snap);
      if (data.length > BIN_ABOVE) { data = toBinary(snap); kind = "bin"; }
    }
    const file = snapshotName(e, kind);
    r.addFile(file, data);
    r.m.snapshots.push({epoch: e, file, kind, edits_done: Math.max(0, Math.min(inForce, due))});
    r.m.epochs = Math.max(r.m.epochs, e); // the frame at e may come after its snapshot
    this.thinSnapshots(r);
    r.dirty = true;
    this.changed();
  }

  /** Past the bounds, drop the snapshot whose neighbours are closest on a log scale of epochs
   * (never the first nor the last): what stays is roughly log-spaced, dense near the end. */
  thinSnapshots(r) {
    const s = r.m.snapshots, size = () => s.reduce((n, x) => n + r.files.get(x.file).length, 0);
    while (s.length > 2 && (s.length > MAX_SNAPSHOTS || size() > this.budget)) {
      r.thinned = (r.thinned || 0) + 1; // the timeline says so
      let best = 1, gap = Infinity;
      const end = s[s.length - 1].epoch + 1;
      for (let i = 1; i < s.length - 1; i++) {
        const g = Math.log((end - s[i - 1].epoch) / (end - s[i + 1].epoch));
        if (g < gap) { gap = g; best = i; }
      }
      r.dropFile(s[best].file);
      s.splice(best, 1);
    }
  }

  /** Training diverged (the session's `status`): the run says so until a change resumes it. */
  onDiverged(message) {
    if (!this.run) return;
    Object.assign(this.run.m, {status: "diverged", message: String(message || "").slice(0, 10000)});
    this.run.dirty = true;
  }

  /** A change before any training is part of the start: the next snapshot at the start epoch
   * replaces the first one, and its config the run's. */
  onStartChanged() { this.wantConfig = true; }

  /** A live edit (replay.js's format) was made at `edit.epoch`: recorded, or a branch starts. */
  onEdit(edit) {
    if (!this.run) return;
    if (this.retrace && edit.epoch < this.retrace.to) this.retrace.branch(); // rewind.js
    this.run.m.edits.push(edit);
    if (this.run.m.status === "diverged") { this.run.m.status = "running"; delete this.run.m.message; }
    this.run.dirty = true;
    this.changed();
  }

  onEditsApplied() {
    // Scheduled edits (a link's, or a rewound run's later edits) are edits of the run too, but
    // during a retrace the run already holds them.
    if (!this.run || this.retrace) return;
    const want = this.host.edits().slice(this.editBase);
    if (want.length > this.run.m.edits.length) {
      this.run.m.edits = want.map((x) => ({...x}));
      this.run.dirty = true;
    }
  }

  /** Save `run` (the current one by default) to the store; on failure keep it in memory and say
   * so, with an export button. */
  async flush(run = this.run) {
    if (!run || !run.dirty) return;
    if (run === this.run && run.m.epochs <= run.m.start_epoch && !run.m.edits.length) return;
    run.dirty = false;
    const put = new Map();
    for (const [n, v] of run.files) if (!run.saved.has(n)) put.set(n, v);
    const gone = run.gone.slice();
    const first = !run.stored;
    try {
      await (await this.host.loadStore()).save(run.record(), put, gone);
      for (const n of put.keys()) run.saved.add(n);
      run.gone = run.gone.filter((n) => !gone.includes(n));
      run.stored = true;
      if (run.failed) { run.failed = false; this.host.say(`Run "${run.m.name}" is stored again.`); }
      // The store's bounds: checked when a run is first stored, and again whenever it has grown
      // by a 64th of the byte bound (an image run's snapshots add megabytes as it trains).
      const store = await this.host.loadStore(), size = run.bytes();
      if (first || size - (run.enforced || 0) > store.maxBytes / 64) {
        run.enforced = size;
        await this.host.enforce(this.run?.id);
      }
    } catch (e) {
      run.dirty = true;
      // Said at the first failure, and again at a later one if another message has replaced it.
      if (!run.failed || !this.host.showing("Could not store run")) {
        run.failed = true;
        this.host.offerExport(run, `Could not store run "${run.m.name}" in this browser (${e?.name || "error"}: ${e?.message || e}). It is kept in memory while this page is open; export it to keep it: `);
      }
    }
    this.changed();
  }
}

let lastName = "", sameName = 0;
/** "<data> HH:MM:SS", with " (2)", " (3)"... for runs started within the same second. */
function defaultName(cfg, t) {
  const two = (n) => String(n).padStart(2, "0");
  const name = `${cfg?.data || "run"} ${two(t.getHours())}:${two(t.getMinutes())}:${two(t.getSeconds())}`;
  sameName = name === lastName ? sameName + 1 : 1;
  lastName = name;
  return sameName > 1 ? `${name} (${sameName})` : name;
}
