// A JSON snapshot as the trainer's binary snapshot (ganlab/snapshot_bin.py has the layout): for a
// state too big for one text message (docs/protocol.md: 4 MiB; the largest 2D models with Adam
// are ~10 MB of JSON) and to keep big 2D snapshots in a run at a third of the bytes. The weights
// and optimizer moments become "<f8" arrays: a JSON number is a double, so nothing is rounded and
// the server's restore sees the very values the JSON held (snapshot_check.vector reads a list or
// an array alike, float32 models included). A leaf that is not a list of numbers stays in the
// header as it was, so a bad state file is refused with the JSON path's words.

import {crc32} from "./zip.js";

const ALIGN = 64, PREFIX = 16, te = new TextEncoder();
const align = (x) => Math.ceil(x / ALIGN) * ALIGN;
const NETS = ["generator", "generator_average", "discriminator"], OPTS = ["g_optimizer", "d_optimizer"];

/** The binary snapshot (a Uint8Array of its own buffer) of a JSON snapshot object. */
export function toBinary(snap) {
  const arrays = [];
  const take = (v) => {
    if (!Array.isArray(v) || !v.every((x) => typeof x === "number")) return v;
    arrays.push(v);
    return {$array: arrays.length - 1};
  };
  const header = {...snap};
  for (const k of NETS) if (k in header) header[k] = take(header[k]);
  for (const k of OPTS) {
    const o = header[k];
    if (o && typeof o === "object" && !Array.isArray(o)) {
      header[k] = Object.fromEntries(Object.entries(o).map(([n, v]) => [n, n === "kind" || n === "t" ? v : take(v)]));
    }
  }
  // As snapshot_bin.encode: the offsets depend on the header's length and it on their digits, so
  // lay the arrays out after an estimate and redo it if the header outgrew it.
  let room = 0, start, end, table, text;
  for (;;) {
    start = align(PREFIX + room);
    end = start;
    table = [];
    let pos = start;
    for (const a of arrays) {
      table.push({dtype: "<f8", offset: pos, count: a.length});
      end = pos + 8 * a.length;
      pos = align(end);
    }
    text = te.encode(JSON.stringify({...header, $arrays: table, $crc32: 0}));
    if (PREFIX + text.length + 16 <= start) break; // room for the checksum's digits
    room = text.length + 32;
  }
  const out = new Uint8Array(end), dv = new DataView(out.buffer);
  arrays.forEach((a, i) => { let p = table[i].offset; for (const x of a) { dv.setFloat64(p, x, true); p += 8; } });
  text = te.encode(JSON.stringify({...header, $arrays: table, $crc32: crc32(out.subarray(start))}));
  out.fill(0x20, PREFIX, start); // the header is padded with spaces up to the first array
  out.set(text, PREFIX);
  out.set(te.encode("GANLABSN"), 0);
  dv.setUint32(8, 1, true);
  dv.setUint32(12, start - PREFIX, true);
  return out;
}
