// Calls to the relearn API from the page: the API key, JSON reads, a job's events.

const KEY_STORAGE = "relearn.apiKey";
const FINAL = new Set(["succeeded", "failed", "cancelled"]);

export class Unauthorized extends Error {}

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
  }
}

export function apiKey() {
  return localStorage.getItem(KEY_STORAGE) || "";
}

export function setApiKey(key) {
  if (key) localStorage.setItem(KEY_STORAGE, key);
  else localStorage.removeItem(KEY_STORAGE);
}

function headers(extra = {}) {
  const key = apiKey();
  return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
}

export async function getJSON(path, signal) {
  const response = await fetch(path, { headers: headers({ Accept: "application/json" }), signal });
  if (response.status === 401) throw new Unauthorized("this API needs a key");
  if (!response.ok) {
    const problem = await response.json().catch(() => null);
    throw new ApiError(response.status, problem);
  }
  return response.json();
}

// Every item of a paged list (`items` + `next_cursor`).
export async function listAll(path, signal) {
  const items = [];
  let cursor = null;
  do {
    const separator = path.includes("?") ? "&" : "?";
    const query = `limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
    const page = await getJSON(`${path}${separator}${query}`, signal);
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor);
  return items;
}

export const isFinal = (job) => FINAL.has(job.status);

const sleep = (ms, signal) =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
  });

// Server-Sent Events read with fetch, not EventSource: EventSource cannot send the
// Authorization header. Yields {event, data} for each complete event.
async function* serverSentEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let event = "message";
  let data = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    // A trailing "\r" may be half of "\r\n": keep it for the next read.
    const lines = buffer.split(/\r\n|\r(?!$)|\n/);
    buffer = lines.pop();
    for (const line of lines) {
      if (line === "") {
        if (data.length) yield { event, data: data.join("\n") };
        event = "message";
        data = [];
      } else if (line.startsWith("event:")) {
        event = line.slice(6).trim();
      } else if (line.startsWith("data:")) {
        data.push(line.slice(5).replace(/^ /, ""));
      } // comments (":" pings), ids and retries are not used
    }
  }
}

// Follow a job until it is final: onJob(job) for its state now and each change. Uses
// GET /v1/jobs/{id}/events; if the stream cannot be had or stops early, polls the job.
export async function followJob(jobId, onJob, signal) {
  const path = `/v1/jobs/${encodeURIComponent(jobId)}`;
  try {
    const response = await fetch(`${path}/events?interval=0.25`, {
      headers: headers({ Accept: "text/event-stream" }),
      signal,
    });
    if (response.ok && response.body) {
      for await (const message of serverSentEvents(response.body)) {
        const job = JSON.parse(message.data);
        onJob(job);
        if (message.event === "end" || isFinal(job)) return;
      }
    }
  } catch (error) {
    if (signal?.aborted) return;
  }
  while (!signal?.aborted) {
    let job;
    try {
      job = await getJSON(path, signal);
    } catch (error) {
      if (signal?.aborted || error instanceof ApiError) return;
      await sleep(2000, signal);
      continue;
    }
    onJob(job);
    if (isFinal(job)) return;
    await sleep(1000, signal);
  }
}
