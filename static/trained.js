// "Load trained state": for the distributions that take long to learn, the server ships a
// snapshot trained on them (GET /api/trained/<name>; /api/schema marks them "trained": true).
// One click fetches it and restores it through the ordinary `restore` message, so the view shows
// a finished model at once, and training can go on from there.

export class TrainedButton {
  /** restore(snapshot, label): the page's restore path; say(text, kind): the status line. */
  constructor(button, restore, say) {
    this.button = button;
    this.restore = restore;
    this.say = say;
    this.dist = null;
    button.addEventListener("click", () => this.load().catch((e) => say(`trained state: ${e.message}`, "error")));
  }

  /** Show the button only for a distribution that has a trained state. */
  show(dist) {
    this.dist = dist && dist.trained ? dist : null;
    this.button.hidden = !this.dist;
  }

  async load() {
    const d = this.dist;
    if (!d) return;
    this.button.disabled = true;
    try {
      const r = await fetch(`api/trained/${encodeURIComponent(d.name)}`);
      if (!r.ok) {
        let why = `HTTP ${r.status}`;
        try { const j = await r.json(); why = j.message || j.detail || j.error || why; } catch { /* not JSON */ }
        throw new Error(typeof why === "string" ? why : JSON.stringify(why));
      }
      await this.restore(await r.json(), `the trained state of ${d.label || d.name}`);
    } finally {
      this.button.disabled = false;
    }
  }
}
