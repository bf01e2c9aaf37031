// Which part of data space the data view shows. The unit square holds the real data, but G's
// samples start wherever its random weights put them, often all of them just outside the square
// (7 of the seeds 0-9 of the default experiment). The view widens to include every fake, with the
// unit square outlined, and narrows back once they return. Hysteresis keeps it still: it grows at
// once (with headroom), shrinks only after the fakes have stayed well inside a smaller square for
// SHRINK_MS, and its edges snap to a grid of QUANTUM, so the server's heatmap grid (computed for
// the same extent) changes rarely.

export const UNIT = [0, 0, 1, 1];
const MARGIN = 0.04;     // of the needed side, around the outermost fake
const HEADROOM = 0.1;    // extra side when growing, so a drifting cloud does not regrow every frame
const SHRINK_BELOW = 0.7; // shrink when the needed side is below this share of the shown side ...
const SHRINK_MS = 1500;   // ... for this long
const QUANTUM = 0.05;
export const LIMIT = 100; // the protocol's bound on |coordinates|

const side = (e) => e[2] - e[0];
const contains = (a, b) => a[0] <= b[0] + 1e-9 && a[1] <= b[1] + 1e-9 && a[2] >= b[2] - 1e-9 && a[3] >= b[3] - 1e-9;
export const sameExtent = (a, b) => a.every((v, i) => Math.abs(v - b[i]) < 1e-9);

/** The smallest square extent (snapped outward to QUANTUM) holding the unit square and every
 * finite point of `xy` (flat x, y, ...) within +-LIMIT, plus MARGIN; the unit square itself when
 * every point lies in it. `grow` widens the side by that share. */
export function neededExtent(xy, grow = 0) {
  let x0 = 0, y0 = 0, x1 = 1, y1 = 1;
  for (let i = 0; i + 1 < xy.length; i += 2) {
    const x = xy[i], y = xy[i + 1];
    if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
    x0 = Math.min(x0, Math.max(-LIMIT, x)); x1 = Math.max(x1, Math.min(LIMIT, x));
    y0 = Math.min(y0, Math.max(-LIMIT, y)); y1 = Math.max(y1, Math.min(LIMIT, y));
  }
  if (x0 === 0 && y0 === 0 && x1 === 1 && y1 === 1) return UNIT.slice();
  const s = Math.max(x1 - x0, y1 - y0) * (1 + 2 * MARGIN + grow);
  const cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
  const snap = (v, up) => Math.max(-LIMIT, Math.min(LIMIT, (up ? Math.ceil(v / QUANTUM - 1e-9) : Math.floor(v / QUANTUM + 1e-9)) * QUANTUM));
  const e = [snap(cx - s / 2, false), snap(cy - s / 2, false), snap(cx + s / 2, true), snap(cy + s / 2, true)];
  // Snapping may leave it a little off square: square it up, growing the short side.
  const w = e[2] - e[0], h = e[3] - e[1];
  if (w > h) { e[1] -= (w - h) / 2; e[3] += (w - h) / 2; } else { e[0] -= (h - w) / 2; e[2] += (h - w) / 2; }
  return e.map((v) => Math.max(-LIMIT, Math.min(LIMIT, Math.round(v * 1e6) / 1e6)));
}

/** The shown extent's target, updated from each frame's fakes with hysteresis (see above). */
export class AutoExtent {
  constructor() { this.target = UNIT.slice(); this.smallSince = null; }

  reset() { this.target = UNIT.slice(); this.smallSince = null; }

  /** Feed the fakes of a frame at time `now` (ms); returns true when the target changed. */
  update(xy, now) {
    const need = neededExtent(xy);
    if (!contains(this.target, need)) {
      this.target = sameExtent(need, UNIT) ? need : neededExtent(xy, HEADROOM);
      this.smallSince = null;
      return true;
    }
    if (side(need) < SHRINK_BELOW * side(this.target) || (sameExtent(need, UNIT) && !sameExtent(this.target, UNIT))) {
      if (this.smallSince === null) this.smallSince = now;
      if (now - this.smallSince >= SHRINK_MS) {
        this.target = need;
        this.smallSince = null;
        return true;
      }
    } else {
      this.smallSince = null;
    }
    return false;
  }
}
