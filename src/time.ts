// Timestamps as runc and containerd print them.

/** RFC 3339 in UTC with nanoseconds, as runc prints `created` (the clock gives milliseconds; the
 *  rest comes from the monotonic clock so that close events still sort in order as text). */
export function rfc3339Nano(date = new Date(), hr = process.hrtime.bigint()): string {
  const iso = date.toISOString(); // 2024-01-02T03:04:05.678Z
  const nanos = String(hr % 1_000_000n).padStart(6, "0");
  return `${iso.slice(0, 23)}${nanos}Z`;
}
