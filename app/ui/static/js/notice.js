// The banner under the header: why the page cannot show what it should.

import { Unauthorized } from "./api.js";

export function clearNotice() {
  const banner = document.getElementById("notice");
  banner.hidden = true;
  banner.textContent = "";
}

export function showError(error) {
  const banner = document.getElementById("notice");
  banner.hidden = false;
  if (error instanceof Unauthorized) {
    banner.className = "notice auth";
    banner.textContent = "This API needs a key: paste one in the “API key” field above and " +
      "press Save (make one with `relearn keys create --tenant NAME`).";
    document.getElementById("api-key").focus();
  } else {
    banner.className = "notice error";
    banner.textContent = `Could not load: ${error.message}`;
  }
}

// Run `load` now and every `seconds` until `signal` aborts; errors go to the banner.
// Returns `poke()`, which runs it again at once (after the run in progress, if any).
export function every(seconds, load, signal) {
  let timer = null;
  let running = false;
  let again = false;
  const tick = async () => {
    clearTimeout(timer);
    if (running) { again = true; return; }
    running = true;
    try {
      await load();
      clearNotice();
    } catch (error) {
      if (!signal.aborted && error.name !== "AbortError") showError(error);
    }
    running = false;
    if (signal.aborted) return;
    if (again) { again = false; tick(); return; }
    timer = setTimeout(tick, seconds * 1000);
  };
  signal.addEventListener("abort", () => clearTimeout(timer), { once: true });
  tick();
  return tick;
}
