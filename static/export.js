// The data view as a PNG that explains itself: the view as drawn (at device pixel ratio), and a
// side panel with the legend of the shown layers, the epoch, the distribution, the latest metrics
// and the settings that made it (loss, architectures, optimizers and learning rates, k_D/k_G,
// batch, noise, seed). A figure pasted into slides or a report then says what it shows.

import {COLORS} from "./dataview.js";

const PANEL = 300; // CSS px
const rgb = (c, a = 1) => `rgba(${c[0]},${c[1]},${c[2]},${a})`;

const LEGEND = {
  heatmap: ["Discriminator D(x)", "heat"], optimal_d: ["Optimal D* (histograms)", "heat"],
  real: ["Real samples", "real"], fake: ["Fake samples G(z)", "fake"],
  d_grad: ["Gradients dD/dx at the fakes", "grad"], g_grad: ["G-loss gradients", "ggrad"],
  manifold: ["Generator manifold", "man"],
};

/** The lines of settings for config `c` (dotted keys, as the page holds it). */
export function settingsLines(c) {
  const net = (p) => `${c[`${p}.layers`]} x ${c[`${p}.units`]} ${c[`${p}.activation`]}`;
  const opt = (p) => `${c[`${p}.kind`]}, lr ${c[`${p}.lr`]}`;
  const lines = [
    ["loss", c.loss],
    ["G", `${net("generator")}, ${c["generator.output"]} out`],
    ["D", net("discriminator")],
    ["G optimizer", opt("g_optimizer")],
    ["D optimizer", opt("d_optimizer")],
    ["k_D / k_G", `${c.k_d} / ${c.k_g}`],
    ["batch", String(c.batch_size)],
    ["noise", `${c.noise}, ${c.noise_dim}D`],
    ["seed", String(c.seed)],
  ];
  if (c.r1) lines.push(["R1", String(c.r1)]);
  if (c.g_ema) lines.push(["G average", String(c.g_ema)]);
  if (c.loss === "wgan-gp") lines.push(["GP weight", String(c.gp_weight)]);
  return lines;
}

/** A canvas holding the data view and its side panel. info: {epoch, updates, dist, config,
 * metrics: [[label, value]], layers: [names]}. */
export function composeView(view, info) {
  const dpr = window.devicePixelRatio || 1, V = view.width;
  const out = document.createElement("canvas");
  out.width = V + Math.round(PANEL * dpr);
  out.height = Math.max(V, Math.round(560 * dpr));
  const ctx = out.getContext("2d");
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, out.width, out.height);
  ctx.drawImage(view, 0, 0);
  ctx.strokeStyle = "#ddd"; ctx.lineWidth = dpr; ctx.strokeRect(0.5, 0.5, V - 1, V - 1);

  ctx.save();
  ctx.translate(V, 0);
  ctx.scale(dpr, dpr);
  let y = 24;
  const x = 16;
  const text = (s, size = 13, weight = 400, color = "#222") => {
    ctx.font = `${weight} ${size}px system-ui, sans-serif`; ctx.fillStyle = color; ctx.textBaseline = "alphabetic";
    ctx.fillText(s, x, y);
    y += size * 1.45;
  };
  text("GAN Lab · ganlab", 15, 600, "#183d4e");
  text(`epoch ${info.epoch}   (${info.updates})`, 13, 400, "#555");
  text(info.dist, 14, 600);
  y += 6;
  for (const name of info.layers) {
    const [label, kind] = LEGEND[name] || [];
    if (!label) continue;
    swatch(ctx, kind, x, y - 10);
    ctx.font = "13px system-ui, sans-serif"; ctx.fillStyle = "#222"; ctx.fillText(label, x + 24, y);
    y += 19;
    if (kind === "heat") {
      ctx.font = "11px system-ui, sans-serif"; ctx.fillStyle = "#666";
      ctx.fillText("purple: looks fake (0) … green: looks real (1)", x + 24, y - 4);
      y += 14;
    }
  }
  if (info.wide) { ctx.font = "11px system-ui, sans-serif"; ctx.fillStyle = "#666"; ctx.fillText("dashed: the unit square (the view is widened)", x, y); y += 16; }
  y += 8;
  if (info.metrics.length) {
    text("Metrics", 12, 600, "#555");
    for (const [k, v] of info.metrics) pair(ctx, k, v, x, y), (y += 17);
    y += 8;
  }
  text("Settings", 12, 600, "#555");
  for (const [k, v] of settingsLines(info.config)) pair(ctx, k, v, x, y), (y += 17);
  ctx.restore();
  return out;
}

function pair(ctx, k, v, x, y) {
  ctx.font = "12px system-ui, sans-serif"; ctx.fillStyle = "#666"; ctx.fillText(k, x, y);
  ctx.fillStyle = "#222"; ctx.fillText(String(v), x + 96, y);
}

function swatch(ctx, kind, x, y) {
  if (kind === "heat") {
    const g = ctx.createLinearGradient(x, 0, x + 18, 0);
    g.addColorStop(0, rgb(COLORS.fake)); g.addColorStop(0.5, "#f7f7f7"); g.addColorStop(1, rgb(COLORS.real));
    ctx.fillStyle = g; ctx.fillRect(x, y, 18, 12);
  } else if (kind === "real" || kind === "fake") {
    ctx.fillStyle = rgb(kind === "real" ? COLORS.real : COLORS.fakeFill);
    ctx.beginPath(); ctx.arc(x + 9, y + 6, 5, 0, 6.2832); ctx.fill();
  } else if (kind === "man") {
    ctx.fillStyle = rgb(COLORS.fakeFill, 0.35); ctx.strokeStyle = rgb(COLORS.fake); ctx.fillRect(x, y, 18, 12); ctx.strokeRect(x, y, 18, 12);
  } else {
    ctx.strokeStyle = rgb(kind === "grad" ? COLORS.grad : COLORS.ggrad); ctx.lineWidth = 2;
    ctx.beginPath(); ctx.moveTo(x, y + 10); ctx.lineTo(x + 16, y + 2); ctx.lineTo(x + 10, y + 2); ctx.moveTo(x + 16, y + 2); ctx.lineTo(x + 15, y + 8); ctx.stroke();
  }
}

/** The composed PNG as a Blob. */
export function exportPNG(view, info) {
  return new Promise((resolve) => composeView(view, info).toBlob(resolve, "image/png"));
}
