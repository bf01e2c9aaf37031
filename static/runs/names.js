// The run format's names (docs/runs.md): what the recorder needs at once; the checks and the
// zip (format.js, zip.js) load with the Runs panel.

export const FORMAT = "ganlab-run", VERSION = 1;
const te = new TextEncoder(), td = new TextDecoder("utf-8");
export const SNAPSHOT_KINDS = {json: ".json", bin: ".bin"}; // format.py SNAPSHOT_KINDS
export const snapshotName = (e, kind = "json") => `snapshots/${String(e).padStart(9, "0")}${SNAPSHOT_KINDS[kind]}`;

/** The JSON header of a binary snapshot (ganlab/snapshot_bin.py: "GANLABSN", u32 version, u32
 * header length, the header: every field but the arrays, epoch and config included), or null. */
export function binHeader(u8) {
  if (u8.length < 16 || td.decode(u8.subarray(0, 8)) !== "GANLABSN") return null;
  const n = new DataView(u8.buffer, u8.byteOffset, u8.byteLength).getUint32(12, true);
  if (16 + n > u8.length) return null;
  try { return JSON.parse(td.decode(u8.subarray(16, 16 + n))); } catch { return null; }
}
export const thumbName = (e) => `thumbs/${String(e).padStart(9, "0")}.png`;
export const encode = (obj) => te.encode(JSON.stringify(obj));
export const decode = (u8) => JSON.parse(td.decode(u8));
