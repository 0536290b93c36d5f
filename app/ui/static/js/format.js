// How numbers, times and ids read on the page.

export const percent = (value, digits = 0) =>
  value === null || value === undefined ? "—" : `${(value * 100).toFixed(digits)}%`;

export const signed = (value) =>
  value === null || value === undefined ? "—" : `${value >= 0 ? "+" : ""}${(value * 100).toFixed(1)}%`;

export const shortId = (id) => (id ? id.slice(0, 8) : "—");

export function when(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  const two = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ` +
    `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

export function duration(startIso, endIso) {
  if (!startIso) return "—";
  const seconds = ((endIso ? new Date(endIso) : new Date()) - new Date(startIso)) / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
}

export function bytes(size) {
  const units = ["B", "KiB", "MiB", "GiB"];
  let value = size;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
  return `${value.toFixed(unit ? 1 : 0)} ${units[unit]}`;
}

// "der α=0.3 β=0.5": the updater and the params it was given.
export function updaterLabel(spec) {
  if (!spec) return "—";
  const params = Object.entries(spec.params || {})
    .filter(([, v]) => v !== null && typeof v !== "object")
    .map(([k, v]) => `${k}=${v}`);
  return params.length ? `${spec.name} (${params.join(", ")})` : spec.name;
}

export function architectureLabel(spec) {
  const p = spec.params || {};
  const shape = p.input_shape ? p.input_shape.join("×") : p.input_dim;
  const hidden = Array.isArray(p.hidden) ? ` [${p.hidden.join(", ")}]` : "";
  return `${spec.name}${hidden} · ${shape ?? "?"} → ${p.num_classes ?? "?"}`;
}
