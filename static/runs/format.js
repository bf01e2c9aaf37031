// A run in the page (docs/runs.md): its manifest (run.json), its metric rows (metrics.jsonl) and
// its other files (snapshots, thumbnails, media) as bytes. `fromFile` checks a run file the way
// ganlab/runs/format.py and run.py do, with the same words; `toFile` writes one.

import {readZip, writeZip, RunError, LIMITS, commas} from "./zip.js";
import {FORMAT, VERSION, SNAPSHOT_KINDS, snapshotName, thumbName, encode, binHeader} from "./names.js";

const KEYS = ["format", "version", "ganlab", "name", "created", "config", "start_epoch", "epochs",
  "duration_seconds", "status", "edits", "metrics", "snapshots", "thumbs", "media"];
const OPTIONAL = ["message", "parent", "final", "thumb_size", "notes"];
const MEDIA = {gif: ".gif", webp: ".webp", apng: ".png", webm: ".webm"};
const MEDIA_MAGIC = {gif: ["GIF87a", "GIF89a"], webp: ["RIFF"], apng: ["\x89PNG\r\n\x1a\n"], webm: ["\x1a\x45\xdf\xa3"]};
const MAX_COUNT = 2 ** 53;
const te = new TextEncoder(), td = new TextDecoder("utf-8", {fatal: true});

/** The checks of ganlab/snapshot_check.py, with its messages. */
const fail = (path, problem) => new RunError(`${path}: ${problem}`);
const type = (v) => (v === null ? "NoneType" : Array.isArray(v) ? "list" : typeof v === "string" ? "str"
  : typeof v === "boolean" ? "bool" : typeof v === "number" ? (Number.isInteger(v) ? "int" : "float") : "dict");
function mapping(v, path, required, optional = []) {
  if (type(v) !== "dict") throw fail(path, `must be an object, got ${type(v)}`);
  const missing = required.filter((k) => !(k in v)).sort();
  if (missing.length) throw fail(`${path}.${missing[0]}`, "missing");
  const unknown = Object.keys(v).filter((k) => !required.includes(k) && !optional.includes(k)).sort();
  if (unknown.length) throw fail(`${path}.${unknown[0].slice(0, 60)}`, "unknown field");
  return v;
}
function whole(v, path, lo = 0, hi = MAX_COUNT) {
  if (!Number.isInteger(v) || v < lo || v > hi) throw fail(path, `must be a whole number in ${lo}..${hi === MAX_COUNT ? "2**53" : hi}`);
  return v;
}
function text(v, path, limit = 10000) {
  if (typeof v !== "string" || v.length > limit) throw fail(path, `must be a string of at most ${limit} characters`);
  return v;
}
function choice(v, path, choices) {
  if (typeof v !== "string" || !choices.includes(v)) throw fail(path, `must be one of ${choices.join(", ")}`);
  return v;
}
function list(v, path, limit) {
  if (!Array.isArray(v)) throw fail(path, "must be a list");
  if (v.length > limit) throw fail(path, `holds ${v.length} items; the limit is ${limit}`);
  return v;
}

function json(u8, where) {
  let s;
  try { s = td.decode(u8); } catch { throw new RunError(`${where}: not UTF-8 text`); }
  try { return JSON.parse(s); } catch (e) { throw new RunError(`${where}: not valid JSON: ${e.message}`); }
}

/** run.json parsed and checked field by field (format.py check_manifest). */
export function checkManifest(u8) {
  const m = json(u8, "run.json");
  if (type(m) !== "dict" || m.format !== FORMAT) {
    const got = type(m) === "dict" ? (typeof m.format === "string" ? `'${m.format}'` : String(m.format ?? "None")) : type(m);
    throw new RunError(`run.json: format must be '${FORMAT}', got ${got} (not a ganlab run)`);
  }
  if (!Number.isInteger(m.version) || m.version < 1) throw new RunError(`run.json: version must be a whole number >= 1, got ${m.version}`);
  if (m.version > VERSION) throw new RunError(`run.json: version ${m.version} was written by a newer ganlab; this one reads version ${VERSION}`);
  try { checkFields(m); } catch (e) { throw new RunError(`run.json: ${e.message.replace(/^run\./, "")}`); }
  return m;
}

function checkFields(m) {
  mapping(m, "run", KEYS, OPTIONAL);
  for (const [k, limit] of [["ganlab", 64], ["name", 200], ["created", 64]]) text(m[k], `run.${k}`, limit);
  if (type(m.config) !== "dict") throw fail("run.config", "must be an object");
  const start = whole(m.start_epoch, "run.start_epoch"), epochs = whole(m.epochs, "run.epochs");
  if (epochs < start) throw fail("run.epochs", `must be >= start_epoch (${start})`);
  if (typeof m.duration_seconds !== "number" || !(m.duration_seconds >= 0)) throw fail("run.duration_seconds", "must be a finite number >= 0");
  choice(m.status, "run.status", ["running", "ok", "diverged", "stopped"]);
  if ("message" in m) text(m.message, "run.message");
  const edits = list(m.edits, "run.edits", 10000);
  edits.forEach((e, i) => {
    mapping(e, `run.edits[${i}]`, ["epoch"], ["changes", "step"]);
    whole(e.epoch, `run.edits[${i}].epoch`);
    if (("changes" in e) === ("step" in e)) throw fail(`run.edits[${i}]`, "needs exactly one of 'changes' and 'step'");
    if ("step" in e) choice(e.step, `run.edits[${i}].step`, ["discriminator", "generator"]);
    else if (type(e.changes) !== "dict") throw fail(`run.edits[${i}].changes`, "must be an object");
  });
  const mt = mapping(m.metrics, "run.metrics", ["file", "every", "rows"]);
  if (mt.file !== "metrics.jsonl") throw fail("run.metrics.file", "must be 'metrics.jsonl'");
  whole(mt.every, "run.metrics.every", 1);
  whole(mt.rows, "run.metrics.rows", 0, 100000);
  let last = -1;
  list(m.snapshots, "run.snapshots", 256).forEach((s, i) => {
    const w = `run.snapshots[${i}]`;
    mapping(s, w, ["epoch", "file", "kind", "edits_done"]);
    const e = whole(s.epoch, `${w}.epoch`);
    if (e <= last) throw fail(`${w}.epoch`, `must be greater than the previous snapshot's (${last})`);
    last = e;
    const kind = choice(s.kind, `${w}.kind`, Object.keys(SNAPSHOT_KINDS));
    if (s.file !== snapshotName(e, kind)) throw fail(`${w}.file`, `must be '${snapshotName(e, kind)}'`);
    whole(s.edits_done, `${w}.edits_done`, 0, edits.length);
  });
  last = -1;
  list(m.thumbs, "run.thumbs", 512).forEach((t, i) => {
    const w = `run.thumbs[${i}]`;
    mapping(t, w, ["epoch", "file"]);
    const e = whole(t.epoch, `${w}.epoch`);
    if (e <= last) throw fail(`${w}.epoch`, `must be greater than the previous thumbnail's (${last})`);
    last = e;
    if (t.file !== thumbName(e)) throw fail(`${w}.file`, `must be '${thumbName(e)}'`);
  });
  list(m.media, "run.media", 8).forEach((md, i) => {
    const w = `run.media[${i}]`;
    mapping(md, w, ["file", "kind"], ["every", "frames"]);
    const kind = choice(md.kind, `${w}.kind`, Object.keys(MEDIA));
    if (typeof md.file !== "string" || !/^media\/[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(md.file) || !md.file.endsWith(MEDIA[kind])) {
      throw fail(`${w}.file`, `must be 'media/NAME${MEDIA[kind]}' (letters, digits, . _ -)`);
    }
  });
  if (m.parent != null) {
    const p = mapping(m.parent, "run.parent", ["name", "epoch"]);
    text(p.name, "run.parent.name", 200);
    whole(p.epoch, "run.parent.epoch");
  }
  if (m.final != null && type(m.final) !== "dict") throw fail("run.final", "must be an object or null");
}

/** metrics.jsonl: one JSON object per line with a whole epoch, epochs never decreasing. */
export function parseMetrics(u8) {
  if (u8.length > 32 * 1048576) throw new RunError(`metrics.jsonl: ${commas(u8.length)} bytes; the limit is ${commas(32 * 1048576)}`);
  let s;
  try { s = td.decode(u8); } catch { throw new RunError("metrics.jsonl: not UTF-8 text"); }
  const rows = [];
  let last = -1;
  s.split("\n").forEach((line, i) => {
    if (!line.trim()) return;
    const where = `metrics.jsonl line ${i + 1}`;
    let row;
    try { row = JSON.parse(line); } catch (e) { throw new RunError(`${where}: not valid JSON: ${e.message}`); }
    if (type(row) !== "dict") throw new RunError(`${where}: must be a JSON object`);
    const e = row.epoch;
    if (!Number.isInteger(e) || e < 0 || e > MAX_COUNT) throw new RunError(`${where}: epoch must be a whole number >= 0, got ${e}`);
    if (e < last) throw new RunError(`${where}: epoch ${e} comes after epoch ${last} (epochs must not decrease)`);
    last = e;
    rows.push(row);
  });
  return rows;
}

const startsWith = (u8, magic) => magic.length <= u8.length && [...magic].every((c, i) => u8[i] === c.charCodeAt(0));

/** A run from a run file's bytes: {manifest, rows, files}. RunError (message prefixed with
 * `where`, as ganlab/runs/run.py's Run does) for anything wrong; nothing is half-read. */
export function fromFile(u8, where) {
  if (u8.length > LIMITS.file) throw new RunError(`${where}: ${commas(u8.length)} bytes; a run file holds at most ${commas(LIMITS.file)} bytes (256 MiB)`);
  const entries = readZip(u8, where);
  let manifest, rows;
  const files = new Map();
  try {
    manifest = checkManifest(entries.get("run.json"));
    const mu8 = entries.get("metrics.jsonl");
    if (!mu8) throw new RunError("metrics.jsonl is missing from the run file");
    rows = parseMetrics(mu8);
    for (const s of manifest.snapshots) {
      const data = need(entries, s.file);
      const snap = s.kind === "bin" ? binHeader(data) : json(data, s.file);
      if (type(snap) !== "dict" || snap.format !== "ganlab-snapshot") throw new RunError(`${s.file}: not a ganlab snapshot`);
      if (snap.epoch !== s.epoch) throw new RunError(`${s.file}: holds epoch ${snap.epoch ?? "None"}, run.json says ${s.epoch}`);
      files.set(s.file, data.slice());
    }
    for (const t of manifest.thumbs) {
      const data = need(entries, t.file);
      if (!startsWith(data, "\x89PNG\r\n\x1a\n")) throw new RunError(`${t.file}: not a PNG image`);
      files.set(t.file, data.slice());
    }
    for (const x of manifest.media) {
      const data = need(entries, x.file);
      if (!MEDIA_MAGIC[x.kind].some((mg) => startsWith(data, mg))) throw new RunError(`${x.file}: not a ${x.kind} file`);
      files.set(x.file, data.slice());
    }
    if (rows.length !== manifest.metrics.rows) throw new RunError(`metrics.jsonl: ${rows.length} rows, run.json says ${manifest.metrics.rows} (truncated?)`);
  } catch (e) {
    if (e instanceof RunError) throw new RunError(`${where}: ${e.message}`);
    throw e;
  }
  const listed = new Set(["run.json", "metrics.jsonl", ...files.keys()]);
  const extra = [...entries.keys()].filter((n) => !listed.has(n)).sort();
  if (extra.length) throw new RunError(`${where}: entry ${extra[0]} is not listed in run.json`);
  return {manifest, rows, files};
}

function need(entries, name) {
  if (!entries.has(name)) throw new RunError(`${name} is missing from the run file`);
  return entries.get(name);
}

/** The run file (a Blob) of a manifest, its rows and its files. */
export function toFile(manifest, rows, files) {
  const all = new Map();
  all.set("run.json", encode({...manifest, metrics: {...manifest.metrics, rows: rows.length}}));
  all.set("metrics.jsonl", te.encode(rows.map((r) => JSON.stringify(r) + "\n").join("")));
  for (const s of manifest.snapshots) all.set(s.file, files.get(s.file));
  for (const t of manifest.thumbs) all.set(t.file, files.get(t.file));
  for (const x of manifest.media) all.set(x.file, files.get(x.file));
  return writeZip(all);
}
