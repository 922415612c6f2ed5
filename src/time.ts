// Timestamps as runc and containerd print them.

/** RFC 3339 in UTC with nanoseconds, as runc prints `created` (the clock gives milliseconds; the
 *  rest comes from the monotonic clock so that close events still sort in order as text). */
export function rfc3339Nano(date = new Date(), hr = process.hrtime.bigint()): string {
  const iso = isoUtc(date.getTime()); // 2024-01-02T03:04:05.678Z
  const nanos = String(hr % 1_000_000n).padStart(6, "0");
  return `${iso.slice(0, 23)}${nanos}Z`;
}

/**
 * `new Date(ms).toISOString()` for years 0–9999, by arithmetic: V8's own date-to-string
 * builtins (toISOString, toUTCString) touch ~0.9 MiB of node's binary at their first call, a
 * sixtieth of a short command's peak RSS (issue 13). Civil date from days: Howard Hinnant's
 * days_from_civil, inverted.
 */
export function isoUtc(ms: number): string {
  const days = Math.floor(ms / 86_400_000);
  let rest = ms - days * 86_400_000;
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  const hour = Math.floor(rest / 3_600_000);
  rest -= hour * 3_600_000;
  const minute = Math.floor(rest / 60_000);
  rest -= minute * 60_000;
  const second = Math.floor(rest / 1000);
  const milli = rest - second * 1000;
  const p = (n: number, w: number) => String(n).padStart(w, "0");
  return `${p(year, 4)}-${p(month, 2)}-${p(day, 2)}T${p(hour, 2)}:${p(minute, 2)}:${p(second, 2)}.${p(milli, 3)}Z`;
}
