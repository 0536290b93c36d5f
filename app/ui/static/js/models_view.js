// The models page: every model with its architecture, updater, latest version, aliases
// and the status of its last job.

import { getJSON, listAll } from "./api.js";
import { h } from "./dom.js";
import { architectureLabel, percent, updaterLabel, when } from "./format.js";
import { every } from "./notice.js";

async function loadModels(signal) {
  const models = await listAll("/v1/models", signal);
  return Promise.all(models.map(async (model) => {
    const base = `/v1/models/${encodeURIComponent(model.id)}`;
    const [aliases, last] = await Promise.all([
      getJSON(`${base}/aliases?limit=1000`, signal).then((page) => page.items),
      getJSON(`${base}/jobs?order=newest&limit=1`, signal).then((page) => page.items),
    ]);
    return { model, aliases, lastJob: last.length ? last[0] : null };
  }));
}

export function statusBadge(status) {
  return h("span", { class: `badge status-${status}` }, status);
}

function jobCell(job) {
  if (!job) return h("td", { class: "last-job", "data-status": "" }, h("span", { class: "muted" }, "none yet"));
  const running = job.status === "running";
  return h("td", { class: "last-job", "data-status": job.status },
    statusBadge(job.status), running ? ` ${percent(job.progress)}` : "",
    h("span", { class: "muted" }, ` #${job.seq}`));
}

function row({ model, aliases, lastJob }) {
  return h("tr", { class: "model-row", "data-model-id": model.id },
    h("td", {}, h("a", { href: `#/models/${model.id}`, class: "model-name" }, model.name),
      h("div", { class: "muted mono" }, model.id)),
    h("td", { class: "architecture" }, architectureLabel(model.architecture)),
    h("td", { class: "updater" }, updaterLabel(model.updater)),
    h("td", { class: "latest-version num" }, `v${model.latest_version}`),
    h("td", { class: "aliases" }, aliases.length
      ? aliases.map((a) => h("span", { class: "alias" }, `${a.alias} → v${a.version}`))
      : h("span", { class: "muted" }, "—")),
    h("td", { class: "num" }, model.chunk_count),
    h("td", {}, statusBadge(model.status)),
    jobCell(lastJob),
    h("td", { class: "muted" }, when(model.created_at)));
}

export function modelsView(root, signal) {
  const body = h("tbody", {}, h("tr", {}, h("td", { colspan: 9, class: "muted" }, "Loading…")));
  root.replaceChildren(
    h("section", { class: "card" },
      h("h2", {}, "Models"),
      h("table", { class: "models" },
        h("thead", {}, h("tr", {}, ["name", "architecture", "updater", "latest", "aliases",
          "chunks", "model", "last job", "created"].map((c) => h("th", {}, c)))),
        body)));
  let shown = "";
  every(3, async () => {
    const rows = await loadModels(signal);
    const key = JSON.stringify(rows);
    if (key === shown) return;
    shown = key;
    body.replaceChildren(...(rows.length ? rows.map(row) : [h("tr", {}, h("td", { colspan: 9, class: "muted" },
      "No models yet: `relearn models create …` or POST /v1/models."))]));
  }, signal);
}
