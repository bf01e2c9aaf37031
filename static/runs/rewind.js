// Rewinding the current run (loaded on the first rewind): the state at a recorded epoch, the
// retrace that follows it, and the branch a change during the retrace makes.
//
// A rewind to E restores the run's snapshot at E and schedules the run's later edits at their
// epochs (docs/runs.md, "Snapshots and rewinding"): played on unchanged, training retraces the
// run bit for bit (the engine is deterministic). A change before the run's end makes a branch: a
// new run whose parent is {name, epoch: E}, whose start is E, whose first snapshot is the state
// at E and whose edits are its own (the original's later edits applied on the way included);
// the original run stays as it was.

import {Run} from "./recorder.js";

const iso = () => new Date().toISOString().replace(/\.\d+Z$/, "Z");
const branchName = (name, epoch) => `${name.replace(/ ↳ \d+$/, "")} ↳ ${epoch}`.slice(0, 200);

/** The state at `epoch` of the recorder's run: {snapshot, done, later, rows, end}, or null. */
export function rewindPoint(rec, epoch) {
  const r = rec.run, s = r?.snapshotAt(epoch);
  if (!s) return null;
  return {snapshot: r.snapshot(epoch), done: r.m.edits.slice(0, s.edits_done), later: r.m.edits.slice(s.edits_done),
    rows: r.rows.filter((x) => x.epoch <= epoch), end: r.m.epochs};
}

/** The recorder's run is replayed from `from` up to its end (recorder.retrace). */
export function startRetrace(rec, from) {
  const R = rec.run, done = R.snapshotAt(from).edits_done;
  rec.lastFrame = null;
  rec.retrace = {run: R, from, to: R.m.epochs, done, branch: () => branch(rec, R, from, done)};
}

function branch(rec, R, from, done) {
  const now = rec.host.epoch(), snap = R.snapshotAt(from);
  const thumbs = R.m.thumbs.filter((t) => t.epoch >= from && t.epoch <= now);
  const m = {...structuredClone(R.m), name: branchName(R.m.name, from), created: iso(), config: R.configAt(from),
    start_epoch: from, epochs: now, status: "running", parent: {name: R.m.name, epoch: from},
    // The original's later edits the server applied before the change are the branch's own.
    edits: rec.host.edits().slice(rec.editBase + done).map((x) => ({...x})),
    snapshots: [{...snap, edits_done: 0}], thumbs, media: [], notes: {}};
  delete m.message;
  const files = new Map([[snap.file, R.files.get(snap.file)]]);
  for (const t of thumbs) files.set(t.file, R.files.get(t.file));
  const rows = R.rows.filter((x) => x.epoch >= from && x.epoch <= now).map((x) => ({...x}));
  R.dirty = true;
  rec.flush(R).catch(() => {});
  rec.editBase += done;
  rec.retrace = null;
  rec.run = new Run(m, rows, files);
  rec.host.say(`Branched at epoch ${from}: this is a new run, "${m.name}"; "${R.m.name}" stays as it was.`);
  rec.changed();
}

/** A metric row of a run as the page's charts keep it (charts.js add()). */
export function chartRow(r) {
  const n = (v) => (typeof v === "number" ? v : null);
  return {epoch: r.epoch, d_steps: null, g_steps: null, d_loss: n(r.d_loss), g_loss: n(r.g_loss), kl: n(r.kl), js: n(r.js),
    modes_captured: n(r.modes_captured ?? r.classes_captured), modes_total: n(r.modes_total ?? r.classes_total),
    high_quality: typeof r.high_quality === "number" ? 100 * r.high_quality : typeof r.confident === "number" ? 100 * r.confident : null,
    kl_floor: n(r.kl_floor), js_floor: n(r.js_floor), fd: n(r.fd), fd_floor: n(r.fd_floor)};
}
