// Process liveness from /proc. A pid alone is a weak identity: pids are reused, and the state
// store outlives reboots. A process is "the same" only if the pid is alive, its start time
// (field 22 of /proc/<pid>/stat, in clock ticks since boot) matches, and we are still in the
// boot it was recorded in.
import { closeSync, openSync, readFileSync, readSync } from "node:fs";

export interface ProcStat {
  /** Field 3: R, S, D, Z, T, t, X, I, … */
  state: string;
  /** Field 4. */
  ppid: number;
  /** Field 22, kept as the decimal string the kernel wrote (it can exceed 2^53 in theory). */
  startTime: string;
}

let cachedBootId: string | undefined;

/** This boot's id (/proc/sys/kernel/random/boot_id), read once per process. */
export function bootId(): string {
  return (cachedBootId ??= readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim());
}

/**
 * Parses the text of /proc/<pid>/stat. The command name (field 2) is in parentheses and may
 * itself contain spaces and ')' (any bytes but NUL), so the fixed fields are read after the
 * LAST ')'. Returns null if the text is not a stat line.
 */
export function parseStat(text: string): ProcStat | null {
  const close = text.lastIndexOf(")");
  if (close < 0) return null;
  // After ") " come fields 3, 4, … separated by single spaces.
  const fields = text
    .slice(close + 1)
    .trim()
    .split(" ");
  const state = fields[0];
  const ppid = fields[1];
  const startTime = fields[22 - 3];
  if (!state || !ppid || !/^\d+$/.test(startTime ?? "") || !/^-?\d+$/.test(ppid)) return null;
  return { state, ppid: Number(ppid), startTime };
}

/** /proc/<pid>/stat parsed, or null if there is no such process (or it vanished meanwhile). */
export function readStat(pid: number): ProcStat | null {
  if (!Number.isInteger(pid) || pid <= 0) return null;
  let text: string;
  try {
    text = readProcFile(`/proc/${pid}/stat`);
  } catch {
    return null; // ENOENT (gone) or ESRCH (exiting while read)
  }
  return parseStat(text);
}

/**
 * One reused buffer for /proc/<pid>/stat: readFileSync sees a size of 0 there and reads into two
 * fresh 64 KiB buffers per call (the second read finds the end), so a `list` or a monitor scrape
 * of 100 containers left 12.8 MiB of ArrayBuffers to malloc until V8 collected them (~1 MiB of
 * the monitor's RSS at 100 containers, docs/performance.md). A stat line is at most ~1.2 KB (a
 * 64-byte name and 50 numbers); a longer one goes through readFileSync.
 */
const statBuf = Buffer.allocUnsafe(4096);

/** The latin1 text of a small /proc file; throws as readFileSync does. */
function readProcFile(path: string): string {
  const fd = openSync(path, "r");
  let n = 0;
  try {
    for (let k; n < statBuf.length && (k = readSync(fd, statBuf, n, statBuf.length - n, null)) > 0; ) n += k;
  } finally {
    closeSync(fd);
  }
  return n < statBuf.length ? statBuf.toString("latin1", 0, n) : readFileSync(path, "latin1");
}

/** Field 22 of /proc/<pid>/stat, or null if there is no such process. Zombies still have one. */
export function processStartTime(pid: number): string | null {
  return readStat(pid)?.startTime ?? null;
}

/** The one-letter state of the process (field 3), or null if there is no such process. */
export function processState(pid: number): string | null {
  return readStat(pid)?.state ?? null;
}

/** True if the process has finished: gone, a zombie (Z) or being reaped (X). */
export function isDeadState(state: string | null): boolean {
  return state === null || state === "Z" || state === "X" || state === "x";
}

/**
 * Is `pid` still the process we recorded? It must be alive (not a zombie: a zombie has exited,
 * it only waits for its parent), have the recorded start time (else the pid was reused), and
 * this must be the boot it was recorded in (else start times are meaningless).
 */
export function isSameProcess(pid: number, startTime: string | null, recordedBootId: string): boolean {
  if (startTime === null || recordedBootId !== bootId()) return false;
  const stat = readStat(pid);
  return stat !== null && !isDeadState(stat.state) && stat.startTime === startTime;
}
