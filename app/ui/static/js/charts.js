// The charts, drawn as inline SVG: the accuracy heatmap, lines over versions, a loss curve.

import { s } from "./dom.js";
import { percent } from "./format.js";

// Viridis, sampled: accuracy 0 → dark purple, 1 → yellow.
const VIRIDIS = ["#440154", "#482878", "#3e4989", "#31688e", "#26828e",
  "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725"];

function colour(value) {
  const x = Math.min(1, Math.max(0, value)) * (VIRIDIS.length - 1);
  const low = Math.floor(x);
  const high = Math.min(VIRIDIS.length - 1, low + 1);
  const mix = (a, b) => Math.round(a + (b - a) * (x - low));
  const rgb = (hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  const [a, b] = [rgb(VIRIDIS[low]), rgb(VIRIDIS[high])];
  return `rgb(${mix(a[0], b[0])}, ${mix(a[1], b[1])}, ${mix(a[2], b[2])})`;
}

// matrix[i][j]; rowLabels[i] ("v3"), columnLabels[j] ("chunk 2"). One <rect class="cell">
// per entry (lower triangle), data-row / data-col / data-value ("" where null).
export function heatmap(matrix, rowLabels, columnLabels, columnTitles = []) {
  const n = matrix.length;
  const cell = n > 12 ? 28 : n > 8 ? 44 : 56;
  const left = 64;
  const top = 44;
  const width = Math.max(left + n * cell + 8, left + 180);
  const height = top + n * cell + 40;
  const svg = s("svg", {
    class: "heatmap", width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": "accuracy matrix: rows are versions, columns the chunks evaluated",
  });
  svg.append(s("text", { x: left, y: 14, class: "axis-title" }, "evaluated on chunk →"));
  columnLabels.forEach((label, j) => {
    svg.append(s("text", { x: left + j * cell + cell / 2, y: top - 8, class: "col-label" },
      label, columnTitles[j] ? s("title", {}, columnTitles[j]) : null));
  });
  matrix.forEach((row, i) => {
    svg.append(s("text", { x: left - 8, y: top + i * cell + cell / 2 + 4, class: "row-label" },
      rowLabels[i]));
    row.forEach((value, j) => {
      const x = left + j * cell;
      const y = top + i * cell;
      const known = value !== null && value !== undefined;
      const group = s("g", {});
      group.append(s("rect", {
        class: known ? "cell" : "cell empty", x: x + 1, y: y + 1, width: cell - 2, height: cell - 2,
        rx: 3, fill: known ? colour(value) : undefined,
        "data-row": i, "data-col": j, "data-value": known ? value : "",
      }, s("title", {}, `after ${rowLabels[i]}, on ${columnLabels[j]}: ` +
        (known ? percent(value, 1) : "no eval split"))));
      if (cell >= 40) {
        group.append(s("text", {
          x: x + cell / 2, y: y + cell / 2 + 4,
          class: known && value < 0.6 ? "cell-text light" : "cell-text",
        }, known ? percent(value) : "—"));
      }
      svg.append(group);
    });
  });
  svg.append(colourScale(left, top + n * cell + 14, Math.max(n * cell, 160)));
  return svg;
}

// The legend under the heatmap: 0% … 100% in the cells' colours.
function colourScale(x, y, width) {
  const steps = 20;
  const group = s("g", { class: "scale" });
  for (let k = 0; k < steps; k += 1) {
    group.append(s("rect", { x: x + (k * width) / steps, y, width: width / steps + 0.5, height: 8,
      fill: colour(k / (steps - 1)) }));
  }
  group.append(s("text", { x, y: y + 20, class: "tick" }, "0%"));
  group.append(s("text", { x: x + width, y: y + 20, class: "tick", "text-anchor": "end" }, "100%"));
  return group;
}

// Round values between lo and hi, about five of them: 0, 0.25, 0.5, ... or 0, 0.2, ...
function niceStep(lo, hi) {
  const raw = (hi - lo) / 5;
  const power = 10 ** Math.floor(Math.log10(raw || 1));
  return [1, 2, 2.5, 5, 10].map((m) => m * power).find((m) => m >= raw) || raw;
}

function niceTicks(lo, hi) {
  const step = niceStep(lo, hi);
  const ticks = [];
  for (let y = Math.ceil(lo / step) * step; y <= hi + step * 1e-9; y += step) ticks.push(+y.toFixed(10));
  return ticks;
}

// series: [{name, colour, points: [{x, y}]}] with y null where undefined.
export function lineChart(series, { xLabel = "", yMin = 0, yMax = 1, xMin = 0, xMax = 1,
  xTicks = [], format = percent, width = 520, height = 240 } = {}) {
  const pad = { left: 48, right: 20, top: 12, bottom: 36 };
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const px = (x) => pad.left + ((x - xMin) / (xMax - xMin || 1)) * plotW;
  const py = (y) => pad.top + (1 - (y - yMin) / (yMax - yMin || 1)) * plotH;
  const svg = s("svg", { class: "chart", width, height, viewBox: `0 0 ${width} ${height}` });
  for (const y of niceTicks(yMin, yMax)) {
    svg.append(s("line", { class: "grid", x1: pad.left, x2: width - pad.right, y1: py(y), y2: py(y) }));
    svg.append(s("text", { class: "tick", x: pad.left - 6, y: py(y) + 4, "text-anchor": "end" }, format(y)));
  }
  if (yMin < 0 && yMax > 0) {
    svg.append(s("line", { class: "zero", x1: pad.left, x2: width - pad.right, y1: py(0), y2: py(0) }));
  }
  for (const tick of xTicks) {
    svg.append(s("text", { class: "tick", x: px(tick.x), y: height - pad.bottom + 16,
      "text-anchor": "middle" }, tick.label));
  }
  svg.append(s("text", { class: "axis-title", x: pad.left + plotW / 2, y: height - 4,
    "text-anchor": "middle" }, xLabel));
  for (const line of series) {
    const known = line.points.filter((p) => p.y !== null && p.y !== undefined);
    if (known.length > 1) {
      svg.append(s("polyline", { class: "line", stroke: line.colour,
        points: known.map((p) => `${px(p.x)},${py(p.y)}`).join(" ") }));
    }
    if (line.dots !== false) {
      for (const p of known) {
        svg.append(s("circle", { class: "dot", cx: px(p.x), cy: py(p.y), r: 3.5, fill: line.colour,
          "data-series": line.name, "data-x": p.x, "data-value": p.y },
        s("title", {}, `${line.name} at ${p.label ?? p.x}: ${format(p.y)}`)));
      }
    }
  }
  return svg;
}

// A job's loss so far: loss_curve points {progress, loss}.
export function lossChart(curve, { width = 520, height = 200, small = false } = {}) {
  const points = (curve || []).map((p) => ({ x: p.progress, y: p.loss }));
  const highest = Math.max(...points.map((p) => p.y), 0) || 1;
  const step = niceStep(0, highest);
  const top = Math.ceil(highest / step) * step; // the axis ends on a tick
  if (small) {
    const svg = s("svg", { class: "sparkline", width, height, viewBox: `0 0 ${width} ${height}` });
    if (points.length > 1) {
      svg.append(s("polyline", { class: "line", points: points
        .map((p) => `${p.x * width},${height - 2 - (p.y / top) * (height - 4)}`).join(" ") }));
    }
    return svg;
  }
  return lineChart([{ name: "loss", colour: "#d9480f", points, dots: false }], {
    xLabel: "training progress", yMin: 0, yMax: top, xMin: 0, xMax: 1, width, height,
    xTicks: [0, 0.25, 0.5, 0.75, 1].map((x) => ({ x, label: percent(x) })),
    format: (v) => v.toFixed(top < 1 ? 3 : 2),
  });
}
