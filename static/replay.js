// The experiment a link reproduces: the config it started from (epoch 0) and its live edits, each
// with the epoch it was made at. Training is deterministic, so a server that applies the same
// edits at the same epochs (the `schedule` message, docs/protocol.md) reaches the same weights.
//
// An edit is {epoch, changes: {dotted path: value}} (live hyperparameters, or data kept with
// "keep the networks") or {epoch, step: "discriminator" | "generator"} (one single update).

import {encodeStrokes, decodeStrokes} from "./state.js";

export const MAX_EDITS = 256;   // the server's bound (messages.py MAX_EDITS)
export const MAX_LINK = 8192;   // characters of URL a link may take

export class Experiment {
  constructor() { this.begin({}); }

  /** A new experiment at epoch 0 from `start` (setting key -> value: config, pts, spread). */
  begin(start, fromFile = false) {
    this.start = start;
    this.edits = [];        // in force, in order
    this.pending = [];      // scheduled on the server (a link being replayed), not applied yet
    this.pauseAt = null;    // the epoch the replay stops at
    this.applied = 0;       // edits of the current schedule the server applied so far
    this.snapEdits = 0;     // edits in force when the reconnection snapshot was taken
    this.fromFile = fromFile; // loaded from a state file: the start is unknown
  }

  /** The server applied `n` edits of the current schedule in all: they are in force now. */
  appliedUpTo(n) {
    const k = Math.max(0, Math.min(n - this.applied, this.pending.length));
    this.edits.push(...this.pending.splice(0, k));
    this.applied = n;
  }

  /** What to schedule after a reconnection restored the snapshot: edits made since it, and the
   * ones still pending, at their epochs. */
  resume() {
    this.pending = [...this.edits.splice(this.snapEdits), ...this.pending];
    this.applied = 0;
    return {edits: this.pending, pause_at: this.pauseAt};
  }

  get replaying() { return this.pending.length > 0 || this.pauseAt !== null; }
}

// --- edits in the URL ---------------------------------------------------------------------------
// JSON [[epoch, "d" | "g" | changes], ...]; drawn strokes and point sets inside changes are packed
// as the link packs the drawing ("~" + 12 bits per axis), so the data replays exactly.

function pack(changes) {
  const p = changes.data_params;
  if (!p || (!p.strokes && !p.points)) return changes;
  const q = {...p};
  if (Array.isArray(p.strokes)) q.strokes = "~" + encodeStrokes(p.strokes);
  if (Array.isArray(p.points)) q.points = "~" + encodeStrokes([p.points]);
  return {...changes, data_params: q};
}

function unpack(changes) {
  const p = changes.data_params;
  if (!p) return changes;
  const q = {...p};
  if (typeof p.strokes === "string" && p.strokes.startsWith("~")) q.strokes = decodeStrokes(p.strokes.slice(1));
  if (typeof p.points === "string" && p.points.startsWith("~")) q.points = decodeStrokes(p.points.slice(1))[0] || [];
  return {...changes, data_params: q};
}

export function encodeEdits(edits) {
  return JSON.stringify(edits.map((e) => [e.epoch, e.step ? e.step[0] : pack(e.changes)]));
}

/** Edits from the URL, or undefined (ignored, and said) when they do not parse. */
export function decodeEdits(s) {
  try {
    const out = JSON.parse(s).map(([epoch, x]) => {
      if (!Number.isInteger(epoch) || epoch < 0) throw new Error("epoch");
      if (x === "d" || x === "g") return {epoch, step: x === "d" ? "discriminator" : "generator"};
      if (!x || typeof x !== "object" || Array.isArray(x)) throw new Error("edit");
      return {epoch, changes: unpack(x)};
    });
    return out;
  } catch { return undefined; }
}

/** Dotted config paths whose value differs between two flat configs (data excluded). */
export function configDiff(before, after) {
  const out = {};
  for (const [k, v] of Object.entries(after)) {
    if (k === "data" || k === "data_params") continue;
    if (JSON.stringify(v) !== JSON.stringify(before[k])) out[k] = v;
  }
  return out;
}

/** The link's own settings (state.js table): the edits and the epoch the link was copied at. */
export const REPLAY_SETTINGS = [
  {key: "edits", kind: "link", default: [], parse: decodeEdits, format: encodeEdits},
  {key: "at", kind: "link", default: null, format: String,
    parse: (s) => { const n = Number(s); return Number.isInteger(n) && n >= 0 ? n : undefined; }},
];
