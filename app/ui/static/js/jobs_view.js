// A model's jobs: live progress (followed over the job's event stream) and the loss so far.

import { followJob, isFinal } from "./api.js";
import { lossChart } from "./charts.js";
import { h } from "./dom.js";
import { duration, percent, shortId, updaterLabel } from "./format.js";
import { statusBadge } from "./models_view.js";

function progressBar(job) {
  return h("div", { class: "progress", "data-progress": job.progress, role: "progressbar",
    "aria-valuenow": Math.round(job.progress * 100), "aria-valuemin": 0, "aria-valuemax": 100 },
  h("div", { class: `bar status-${job.status}`, style: `width: ${(job.progress * 100).toFixed(1)}%` }),
  h("span", { class: "progress-text" }, percent(job.progress)));
}

// The loss so far as {progress, loss} points: the live curve the worker reports while
// it trains, else the per-epoch losses of the finished job's training report.
export function lossCurve(job) {
  if (job.loss_curve?.length) return job.loss_curve;
  const epochs = (job.metrics?.train?.loss_curve || []);
  return epochs
    .map((loss, k) => ({ progress: (k + 1) / epochs.length, loss }))
    .filter((point) => point.loss !== null && Number.isFinite(point.loss));
}

function lastLoss(job) {
  const curve = lossCurve(job);
  return curve.length ? curve[curve.length - 1].loss.toFixed(4) : "—";
}

function versions(job) {
  const from = job.base_version === null || job.base_version === undefined ? "?" : `v${job.base_version}`;
  const to = job.result_version === null ? "…" : `v${job.result_version}`;
  const rollback = job.kind === "rollback" ? ` (rollback to v${job.source_version})` : "";
  return `${from} → ${to}${rollback}`;
}

// The panel: update(jobs) with the model's job list (polled); each job not final is
// followed live. onEnd(job) when a followed job ends (the page reloads the rest).
export function jobsPanel(container, { signal, onEnd }) {
  const jobs = new Map(); // id → latest job JSON
  const rows = new Map(); // id → <tr>
  const followed = new Set();
  let selected = null; // the job whose loss curve is drawn large
  let pinned = false; // a click chose it: keep it while the user looks
  const body = h("tbody", {});
  const chartTitle = h("h3", {}, "Loss so far");
  const chart = h("div", { class: "loss-chart" });
  container.replaceChildren(
    h("h2", {}, "Jobs"),
    h("div", { class: "jobs-layout" },
      h("div", { class: "jobs-table" }, h("table", { class: "jobs" },
        h("thead", {}, h("tr", {}, ["#", "status", "progress", "updater", "versions", "loss",
          "curve", "time", "attempts"].map((c) => h("th", {}, c)))),
        body)),
      h("div", { class: "loss-panel" }, chartTitle, chart)));

  function drawChart() {
    const job = jobs.get(selected);
    if (!job) {
      chartTitle.textContent = "Loss so far";
      chart.replaceChildren(h("p", { class: "muted" }, "No job yet."));
      return;
    }
    chartTitle.textContent = `Loss so far, job #${job.seq} (${job.status})`;
    const curve = lossCurve(job);
    const idle = job.kind === "rollback" ? "A rollback trains nothing."
      : job.status === "queued" ? "Queued: no training yet." : "No loss reported yet.";
    chart.replaceChildren(curve.length ? lossChart(curve, { width: 480 }) : h("p", { class: "muted" }, idle));
    chart.dataset.jobId = job.id;
    chart.dataset.points = curve.length;
  }

  function render(job) {
    const previous = rows.get(job.id);
    const row = h("tr", {
      class: `job-row${job.id === selected ? " selected" : ""}`, "data-job-id": job.id,
      "data-status": job.status, "data-progress": job.progress,
      onclick: () => { selected = job.id; pinned = true; rows.forEach((r, id) => r.classList.toggle("selected", id === selected)); drawChart(); },
    },
    h("td", { class: "num" }, job.seq),
    h("td", {}, statusBadge(job.status), job.error ? h("div", { class: "error-text" }, job.error) : null),
    h("td", {}, progressBar(job)),
    h("td", { title: updaterLabel(job.updater) }, job.kind === "rollback" ? "—" : job.updater?.name ?? "—"),
    h("td", { class: "mono" }, versions(job)),
    h("td", { class: "num mono" }, lastLoss(job)),
    h("td", {}, lossChart(lossCurve(job), { small: true, width: 72, height: 24 })),
    h("td", { class: "muted" }, duration(job.started_at, job.finished_at)),
    h("td", { class: "num" }, job.attempts),
    );
    row.title = `job ${job.id} (chunk ${shortId(job.chunk_id)})`;
    if (previous) previous.replaceWith(row);
    rows.set(job.id, row);
    return row;
  }

  function set(job) {
    const before = jobs.get(job.id);
    jobs.set(job.id, job);
    if (before && JSON.stringify(before) === JSON.stringify(job)) return;
    render(job);
    if (job.id === selected) drawChart();
  }

  function follow(job) {
    if (followed.has(job.id) || isFinal(job)) return;
    followed.add(job.id);
    followJob(job.id, (latest) => {
      set(latest);
      if (isFinal(latest)) onEnd(latest);
    }, signal);
  }

  return {
    update(list) {
      // The newest job first; the job drawn large is the running one, else the newest.
      const ordered = [...list].sort((a, b) => b.seq - a.seq);
      for (const job of ordered) {
        const mine = jobs.get(job.id);
        // A followed job's stream may be ahead of the list: keep the furthest state.
        if (!(mine && followed.has(job.id) && !isFinal(job) && mine.progress > job.progress)) set(job);
        follow(job);
      }
      const ids = ordered.map((j) => j.id);
      if (!rows.size || ids.some((id, k) => body.children[k]?.dataset.jobId !== id)) {
        body.replaceChildren(...ids.map((id) => rows.get(id)));
      }
      if (!ordered.length) {
        body.replaceChildren(h("tr", {}, h("td", { colspan: 9, class: "muted" },
          "No jobs yet: push a chunk (`relearn push FILE --model ID`).")));
      }
      const running = ordered.find((j) => j.status === "running");
      const pick = pinned && jobs.has(selected)
        ? selected : running?.id ?? (jobs.has(selected) ? selected : ordered[0]?.id ?? null);
      if (pick !== selected || !chart.childElementCount) {
        selected = pick;
        rows.forEach((r, id) => r.classList.toggle("selected", id === selected));
        drawChart();
      }
    },
  };
}
