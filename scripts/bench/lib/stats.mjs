// Pure statistics for the benchmark: no I/O, so they are unit-tested (test/unit/bench-stats.test.ts).

/** Finite numbers only: a failed or skipped sample is stored as null and must not skew a median. */
function finite(values) {
  return values.filter((v) => typeof v === "number" && Number.isFinite(v));
}

/** Linear-interpolated quantile (q in [0, 1]) of the finite values; null when there are none. */
export function quantile(values, q) {
  const xs = finite(values).sort((a, b) => a - b);
  if (xs.length === 0) return null;
  const pos = (xs.length - 1) * Math.min(1, Math.max(0, q));
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo);
}

export function median(values) {
  return quantile(values, 0.5);
}

/**
 * Per-iteration ratios a[i]/b[i], for the iterations where both samples exist.
 * Pairing by iteration cancels slow drifts in machine load that hit both runtimes alike,
 * which a ratio of two medians would not.
 */
export function pairedRatios(a, b) {
  const out = [];
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i];
    const y = b[i];
    if (typeof x === "number" && typeof y === "number" && Number.isFinite(x) && Number.isFinite(y) && y !== 0) {
      out.push(x / y);
    }
  }
  return out;
}

/** The numbers a table cell needs; every field is null when there are no samples. */
export function summarize(values) {
  const xs = finite(values);
  return {
    n: xs.length,
    median: median(xs),
    p10: quantile(xs, 0.1),
    p90: quantile(xs, 0.9),
    min: xs.length ? Math.min(...xs) : null,
    max: xs.length ? Math.max(...xs) : null,
  };
}

/** Rotate a list left by k, so each iteration starts with a different runtime (no fixed order bias). */
export function rotate(list, k) {
  if (list.length === 0) return [];
  const s = ((k % list.length) + list.length) % list.length;
  return [...list.slice(s), ...list.slice(0, s)];
}

/** `phase=<name> ms=<float>` lines (polis with POLIS_TIMING=1) → { name: ms }; repeated names add up. */
export function parsePhaseLines(text) {
  const phases = {};
  const re = /^phase=(\S+)\s+ms=([0-9]+(?:\.[0-9]+)?(?:e[-+]?[0-9]+)?)\s*$/gim;
  for (const m of String(text).matchAll(re)) {
    phases[m[1]] = (phases[m[1]] ?? 0) + Number(m[2]);
  }
  return phases;
}

/** The peak-RSS marker that /usr/bin/time appends to stderr; the last one wins (the runtime may print anything before it). */
export function parseRssMarker(text, marker) {
  let last = null;
  for (const line of String(text).split("\n")) {
    if (line.startsWith(marker)) {
      const v = Number(line.slice(marker.length).trim());
      if (Number.isFinite(v)) last = v;
    }
  }
  return last;
}

/** Stderr without the /usr/bin/time marker and its "Command exited with non-zero status" note. */
export function stripTimeOutput(text, marker) {
  return String(text)
    .split("\n")
    .filter((l) => !l.startsWith(marker) && !/^Command (exited with non-zero status|terminated by signal)/.test(l))
    .join("\n")
    .trim();
}
