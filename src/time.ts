// Timestamps as runc and containerd print them.

/** RFC 3339 in UTC with nanoseconds, as runc prints `created` (the clock gives milliseconds; the
 *  rest comes from the monotonic clock so that close events still sort in order as text). */
export function rfc3339Nano(date = new Date(), hr = process.hrtime.bigint()): string {
  const iso = isoUtc(date.getTime()); // 2024-01-02T03:04:05.678Z
  const nanos = String(hr % 1_000_000n).padStart(6, "0");
  return `${iso.slice(0, 23)}${nanos}Z`;
}

// V8's own date-to-string builtins (toISOString, toUTCString) touch ~0.9 MiB of node's binary at
// their first call, a sixtieth of a short command's peak RSS (issue 13): the two formats polis
// prints are done here by arithmetic, for years 0–9999.

/** `new Date(ms).toISOString()`: 2024-01-02T03:04:05.678Z */
export function isoUtc(ms: number): string {
  const t = civil(ms);
  return `${p(t.year, 4)}-${p(t.month, 2)}-${p(t.day, 2)}T${p(t.hour, 2)}:${p(t.minute, 2)}:${p(t.second, 2)}.${p(t.milli, 3)}Z`;
}

const WEEKDAYS = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]; // 1970-01-01 was a Thursday
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** `new Date(ms).toUTCString()`, HTTP's Date format (IMF-fixdate): Tue, 02 Jan 2024 03:04:05 GMT */
export function httpDate(ms: number): string {
  const t = civil(ms);
  const weekday = WEEKDAYS[((t.days % 7) + 7) % 7];
  return `${weekday}, ${p(t.day, 2)} ${MONTHS[t.month - 1]} ${p(t.year, 4)} ${p(t.hour, 2)}:${p(t.minute, 2)}:${p(t.second, 2)} GMT`;
}

const p = (n: number, width: number): string => String(n).padStart(width, "0");

/** The UTC calendar fields of `ms`: Howard Hinnant's civil_from_days, then the time of day. */
function civil(ms: number) {
  const days = Math.floor(ms / 86_400_000);
  let rest = ms - days * 86_400_000;
  const z = days + 719_468; // days since 0000-03-01
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153); // months since March
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  const hour = Math.floor(rest / 3_600_000);
  rest -= hour * 3_600_000;
  const minute = Math.floor(rest / 60_000);
  rest -= minute * 60_000;
  const second = Math.floor(rest / 1000);
  return { days, year, month, day, hour, minute, second, milli: rest - second * 1000 };
}
