// One model: what it is, its versions (aliases, lineage), the accuracy matrix as a
// heatmap, ACC / forgetting / BWT per version, and its jobs live.

import { getJSON, listAll } from "./api.js";
import { heatmap, lineChart } from "./charts.js";
import { perVersion } from "./continual.js";
import { h } from "./dom.js";
import { architectureLabel, bytes, percent, shortId, signed, updaterLabel, when } from "./format.js";
import { jobsPanel } from "./jobs_view.js";
import { statusBadge } from "./models_view.js";
import { every } from "./notice.js";

const SERIES = [
  { key: "acc", name: "ACC", colour: "#1c7ed6" },
  { key: "forgetting", name: "forgetting", colour: "#e8590c" },
  { key: "bwt", name: "BWT", colour: "#2f9e44" },
];

function summary(model) {
  const fact = (label, value) => h("div", { class: "fact" }, h("dt", {}, label), h("dd", {}, value));
  const training = model.training || {};
  return [
    h("h2", {}, model.name, " ", statusBadge(model.status)),
    h("div", { class: "muted mono" }, model.id),
    model.error ? h("p", { class: "error-text" }, model.error) : null,
    h("dl", { class: "facts" },
      fact("architecture", architectureLabel(model.architecture)),
      fact("updater", updaterLabel(model.updater)),
      fact("training", `${training.epochs} epochs · batch ${training.batch_size} · ` +
        `${training.optimizer} lr ${training.lr}`),
      fact("latest version", `v${model.latest_version}`),
      fact("chunks", model.chunk_count),
      fact("promotion", model.promotion ? `${model.promotion.alias} (gated)` : "—"),
      fact("created", when(model.created_at))),
  ];
}

// The chain of parents from a version back to version 0: "v5 ← v3 ← v2 ← v0".
function lineage(number, byNumber) {
  const chain = [];
  let current = byNumber.get(number);
  while (current && chain.length < 50) {
    chain.push(`v${current.number}`);
    current = current.parent === null ? null : byNumber.get(current.parent);
  }
  return chain.join(" ← ");
}

function versionsTable(versions) {
  const byNumber = new Map(versions.map((v) => [v.number, v]));
  const newest = [...versions].sort((a, b) => b.number - a.number);
  const latest = newest[0]?.number;
  const rows = newest.map((v) => {
    const rollback = v.parent !== null && v.parent !== v.number - 1;
    const names = [...(v.number === latest ? ["latest"] : []), ...v.aliases];
    return h("tr", { class: "version-row", "data-version": v.number },
      h("td", { class: "mono" }, `v${v.number}`),
      h("td", { class: "mono" }, v.parent === null ? "—" : `v${v.parent}`,
        rollback ? h("span", { class: "badge rollback" }, "rollback") : null),
      h("td", { class: "aliases" }, names.length
        ? names.map((a) => h("span", { class: a === "latest" ? "alias latest" : "alias" }, a))
        : h("span", { class: "muted" }, "—")),
      h("td", { class: "mono" }, shortId(v.chunk_id)),
      h("td", {}, v.updater ? v.updater.name : "—",
        v.metrics?.state_reset ? h("span", { class: "badge muted-badge" }, "state reset") : null),
      h("td", { class: "num" }, percent(v.metrics?.average_accuracy, 1)),
      h("td", { class: "num muted" }, bytes(v.artifact_size)),
      h("td", { class: "muted" }, when(v.created_at)));
  });
  return [
    h("h2", {}, "Versions"),
    latest === undefined ? null : h("p", { class: "muted lineage" }, `lineage of latest: ${lineage(latest, byNumber)}`),
    h("table", { class: "versions" },
      h("thead", {}, h("tr", {}, ["version", "parent", "aliases", "chunk", "updater", "ACC",
        "size", "created"].map((c) => h("th", {}, c)))),
      h("tbody", {}, rows)),
  ];
}

function metricsSection(metrics, versions) {
  const matrix = metrics.accuracy_matrix;
  if (!matrix.length) {
    return [h("h2", {}, "What it learned and forgot"),
      h("p", { class: "muted" }, "No updates yet: the accuracy matrix fills in as chunks are applied.")];
  }
  // Row i is the i-th version made from a chunk (as GET /metrics orders them).
  const updates = versions.filter((v) => v.number >= 1 && v.chunk_id).sort((a, b) => a.number - b.number);
  const rowLabels = matrix.map((_, i) => `v${updates.length === matrix.length ? updates[i].number : i + 1}`);
  const columnLabels = metrics.chunk_ids.map((_, j) => `#${j + 1}`);
  const points = perVersion(matrix);
  const values = points.flatMap((p) => [p.acc, p.forgetting, p.bwt]).filter((v) => v !== null);
  const yMin = Math.min(0, Math.floor(Math.min(...values) * 10) / 10);
  const figure = (label, value, fmt, key) =>
    h("div", { class: "figure", "data-figure": key, "data-value": value ?? "" },
      h("div", { class: "figure-value" }, fmt(value)), h("div", { class: "figure-label" }, label));
  return [
    h("h2", {}, "What it learned and forgot"),
    h("div", { class: "figures" },
      figure("ACC (average accuracy, last row)", metrics.average_accuracy, (v) => percent(v, 1), "acc"),
      figure("forgetting (Chaudhry et al.)", metrics.forgetting, (v) => percent(v, 1), "forgetting"),
      figure("BWT (backward transfer)", metrics.backward_transfer, signed, "bwt")),
    h("div", { class: "metrics-layout" },
      h("figure", {},
        heatmap(matrix, rowLabels, columnLabels, metrics.chunk_ids.map((id) => `chunk ${id}`)),
        h("figcaption", {}, "Accuracy on each chunk's eval split (columns) after each update (rows). "
          + "Below the diagonal: what later updates kept.")),
      h("figure", {},
        lineChart(SERIES.map((series) => ({
          name: series.name, colour: series.colour,
          points: points.map((p, i) => ({ x: p.version, y: p[series.key], label: rowLabels[i] })),
        })), {
          xLabel: "version", yMin, yMax: 1, xMin: 0.5, xMax: matrix.length + 0.5,
          xTicks: rowLabels.map((label, i) => ({ x: i + 1, label })),
        }),
        h("figcaption", {}, h("span", { class: "legend" }, SERIES.map((series) =>
          h("span", { class: "key" }, h("i", { style: `background: ${series.colour}` }), series.name))),
        " after each version."))),
  ];
}

export function modelView(root, modelId, signal) {
  const base = `/v1/models/${encodeURIComponent(modelId)}`;
  const cards = {
    summary: h("section", { class: "card summary" }),
    metrics: h("section", { class: "card metrics" }),
    jobs: h("section", { class: "card jobs-card" }),
    versions: h("section", { class: "card versions-card" }),
  };
  root.replaceChildren(h("p", { class: "crumbs" }, h("a", { href: "#/" }, "← all models")),
    cards.summary, cards.metrics, cards.jobs, cards.versions);
  const shown = {};
  const show = (name, data, draw) => {
    const key = JSON.stringify(data);
    if (shown[name] === key) return;
    shown[name] = key;
    cards[name].replaceChildren(...draw().filter((part) => part !== null));
  };
  let refresh = () => {};
  const jobs = jobsPanel(cards.jobs, { signal, onEnd: () => refresh() });
  refresh = every(2, async () => {
    const [model, versions, metrics, jobList] = await Promise.all([
      getJSON(base, signal),
      listAll(`${base}/versions`, signal),
      getJSON(`${base}/metrics`, signal),
      listAll(`${base}/jobs`, signal),
    ]);
    document.title = `${model.name} · relearn`;
    show("summary", model, () => summary(model));
    show("metrics", [metrics, versions.map((v) => [v.number, v.chunk_id])], () => metricsSection(metrics, versions));
    show("versions", versions, () => versionsTable(versions));
    jobs.update(jobList);
  }, signal);
}
