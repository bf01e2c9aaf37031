// Failure hints beside the data view: the server's frame metrics carry `hints`, a list of
// {code, message} (D saturated, D dead, G collapsed, fakes outside the square). They are advice,
// never a stop: training goes on. Metrics come on a fraction of frames, so the hints shown are
// those of the latest frame that carried metrics, and they go when such a frame has none.

export class Hints {
  constructor(el) { this.el = el; this.codes = ""; }

  /** Take a frame's JSON; frames without metrics leave the hints as they are. */
  update(meta) {
    const m = meta.metrics;
    if (!m || !Object.keys(m).length) return;
    this.show(Array.isArray(m.hints) ? m.hints : []);
  }

  show(hints) {
    const codes = hints.map((h) => `${h.code}:${h.message}`).join("|");
    if (codes === this.codes) return; // unchanged: leave the DOM (and any text selection) alone
    this.codes = codes;
    this.el.replaceChildren(...hints.map((h) => {
      const p = document.createElement("p");
      p.className = "hint";
      p.dataset.code = String(h.code);
      p.textContent = String(h.message);
      return p;
    }));
    this.el.hidden = !hints.length;
  }

  clear() { this.show([]); }
}
