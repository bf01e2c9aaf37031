// The single-file run format (docs/runs.md, "The single file"): an uncompressed ("stored") zip
// whose entries are the run's files. Read with a DataView, no library: the end record, the
// central directory, each local header, each entry's CRC-32. Refusals use the Python reader's
// words (ganlab/runs/format.py read_zip), prefixed with the file's name as `where`.

export const MiB = 1024 * 1024;
export const LIMITS = {file: 256 * MiB, entry: 64 * MiB, manifest: 16 * MiB, entries: 1024};
export const NAME = /^(run\.json|metrics\.jsonl|snapshots\/[0-9]{1,16}\.[a-z0-9]{1,8}|thumbs\/[0-9]{1,16}\.png|media\/[A-Za-z0-9][A-Za-z0-9._-]{0,63})$/;

const T = new Uint32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320 ^ (c >>> 1) : c >>> 1;
  T[n] = c >>> 0;
}
/** CRC-32 (IEEE 802.3 polynomial, reflected), as zip stores it. */
export function crc32(a) {
  let c = 0xFFFFFFFF;
  for (let i = 0; i < a.length; i++) c = T[(c ^ a[i]) & 255] ^ (c >>> 8);
  return (c ^ 0xFFFFFFFF) >>> 0;
}

export class RunError extends Error {}
/** 1234567 -> "1,234,567" (Python's f"{n:,}"). */
export const commas = (n) => n.toLocaleString("en-US");

/** Python's repr() of the first bytes, for "this starts with b'...'" in a refusal. */
function bytesRepr(u8) {
  let s = "";
  for (const b of u8) {
    if (b === 0x27 || b === 0x5c) s += "\\" + String.fromCharCode(b);
    else if (b === 9) s += "\\t"; else if (b === 10) s += "\\n"; else if (b === 13) s += "\\r";
    else if (b >= 32 && b < 127) s += String.fromCharCode(b);
    else s += "\\x" + b.toString(16).padStart(2, "0");
  }
  return `b'${s}'`;
}

/** The entries of a run file (name -> Uint8Array, views into `u8`), or RunError naming the
 * problem: oversized, foreign, truncated, corrupt, compressed / encrypted, unexpected names. */
export function readZip(u8, where = "run file") {
  const fail = (m) => { throw new RunError(`${where}: ${m}`); };
  if (u8.length > LIMITS.file) fail(`${commas(u8.length)} bytes; a run file holds at most ${commas(LIMITS.file)} bytes (256 MiB)`);
  const dv = new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
  if (u8.length < 4 || dv.getUint32(0, true) !== 0x04034b50) {
    let i = 0;
    while (i < u8.length && (u8[i] === 32 || u8[i] === 9 || u8[i] === 10 || u8[i] === 13)) i++;
    const kind = u8[i] === 0x7b || u8[i] === 0x5b ? "JSON (a snapshot or settings file?)" : bytesRepr(u8.subarray(0, 8));
    fail(`not a ganlab run file (a run file is a zip archive starting with 'PK\\x03\\x04'; this starts with ${kind})`);
  }
  let eocd = -1; // 1. the end record, in the last 65,557 bytes
  for (let i = u8.length - 4; i >= Math.max(0, u8.length - 65557); i--) {
    if (dv.getUint32(i, true) === 0x06054b50) { eocd = i; break; }
  }
  if (eocd < 0 || eocd + 22 > u8.length) {
    fail(`truncated: the zip's end record is missing (the file stops after ${commas(u8.length)} bytes; was it cut short?)`);
  }
  const count = dv.getUint16(eocd + 10, true);
  if (count > LIMITS.entries) fail(`${count} entries; a run file holds at most ${LIMITS.entries}`);
  let p = dv.getUint32(eocd + 16, true);
  const td = new TextDecoder("utf-8", {fatal: false});
  const out = new Map();
  let total = 0;
  for (let i = 0; i < count; i++) { // 2. the central directory
    if (p + 46 > u8.length || dv.getUint32(p, true) !== 0x02014b50) fail("corrupt zip: Bad magic number for central directory");
    const flags = dv.getUint16(p + 8, true), method = dv.getUint16(p + 10, true), sum = dv.getUint32(p + 16, true);
    const csize = dv.getUint32(p + 20, true), size = dv.getUint32(p + 24, true);
    const nlen = dv.getUint16(p + 28, true), xlen = dv.getUint16(p + 30, true), clen = dv.getUint16(p + 32, true);
    const off = dv.getUint32(p + 42, true), name = td.decode(u8.subarray(p + 46, p + 46 + nlen));
    p += 46 + nlen + xlen + clen;
    if (name.endsWith("/")) continue; // a directory entry
    if (!NAME.test(name)) fail(`unexpected entry ${JSON.stringify(name.slice(0, 60)).replaceAll('"', "'")} (a run holds run.json, metrics.jsonl, snapshots/, thumbs/ and media/ only)`);
    if (out.has(name)) fail(`entry ${name} appears twice`);
    if (flags & 1) fail(`entry ${name} is encrypted`);
    if (method !== 0) fail(`entry ${name} is compressed (method ${method}); a run file stores its entries uncompressed (export it with \`ganlab runs export\`)`);
    const limit = name === "run.json" ? LIMITS.manifest : LIMITS.entry;
    if (size > limit) fail(`entry ${name} is ${commas(size)} bytes; the limit is ${commas(limit)}`);
    total += size;
    if (total > LIMITS.file) fail(`entries add up to more than ${commas(LIMITS.file)} bytes`);
    // 3. its data, after the local header
    if (off + 30 > u8.length || dv.getUint32(off, true) !== 0x04034b50) fail(`entry ${name} is truncated or corrupt: Bad magic number for file header`);
    const start = off + 30 + dv.getUint16(off + 26, true) + dv.getUint16(off + 28, true);
    const data = u8.subarray(start, start + csize);
    if (csize !== size || data.length !== size) fail(`entry ${name} is truncated or corrupt: its data is cut short`);
    if (crc32(data) !== sum) fail(`entry ${name} is corrupt: fails its CRC-32 check`); // 4. its CRC-32
    out.set(name, data);
  }
  if (!out.has("run.json")) fail("not a ganlab run file (run.json is missing from the archive)");
  return out;
}

/** A run file of `files` (name -> Uint8Array): stored entries, run.json first, then
 * metrics.jsonl, then the rest by name; timestamps 1980-01-01, so the same run gives the same
 * bytes. No data descriptors, no zip64 (docs/runs.md). */
export function writeZip(files) {
  const te = new TextEncoder();
  const names = [...files.keys()].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
  const parts = [], central = [];
  let offset = 0;
  const DATE = (1 << 5) | 1; // DOS date 1980-01-01, time 00:00:00
  for (const name of names) {
    const data = files.get(name), n = te.encode(name), sum = crc32(data);
    const h = new DataView(new ArrayBuffer(30));
    h.setUint32(0, 0x04034b50, true); h.setUint16(4, 20, true); h.setUint16(6, 0, true); h.setUint16(8, 0, true);
    h.setUint16(10, 0, true); h.setUint16(12, DATE, true); h.setUint32(14, sum, true);
    h.setUint32(18, data.length, true); h.setUint32(22, data.length, true); h.setUint16(26, n.length, true); h.setUint16(28, 0, true);
    const c = new DataView(new ArrayBuffer(46));
    c.setUint32(0, 0x02014b50, true); c.setUint16(4, 20, true); c.setUint16(6, 20, true); c.setUint16(8, 0, true);
    c.setUint16(10, 0, true); c.setUint16(12, 0, true); c.setUint16(14, DATE, true); c.setUint32(16, sum, true);
    c.setUint32(20, data.length, true); c.setUint32(24, data.length, true); c.setUint16(28, n.length, true);
    c.setUint32(38, (0o600 << 16) >>> 0, true); c.setUint32(42, offset, true);
    parts.push(new Uint8Array(h.buffer), n, data);
    central.push(new Uint8Array(c.buffer), n);
    offset += 30 + n.length + data.length;
  }
  const cdSize = central.reduce((s, a) => s + a.length, 0);
  const e = new DataView(new ArrayBuffer(22));
  e.setUint32(0, 0x06054b50, true); e.setUint16(8, names.length, true); e.setUint16(10, names.length, true);
  e.setUint32(12, cdSize, true); e.setUint32(16, offset, true);
  return new Blob([...parts, ...central, new Uint8Array(e.buffer)], {type: "application/zip"});
}

const rank = (n) => (n === "run.json" ? 0 : n === "metrics.jsonl" ? 1 : 2);
