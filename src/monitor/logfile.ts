// Reading the k8s-file logs the container's monitor writes: `RFC3339Nano stdout|stderr F|P text`,
// F ending a line and P a piece of one that continues in the next record. Rotated files are
// FILE.1 (newest) … FILE.<n-1> (oldest); `follow` keeps reading across rotation and truncation.
import { closeSync, existsSync, fstatSync, openSync, readSync, statSync } from "node:fs";
import { isoUtc } from "../time.js";

export interface LogRecord {
  time: string;
  stream: "stdout" | "stderr";
  /** false for a P record: the line goes on in the next record of the same stream. */
  complete: boolean;
  text: string;
}

const RECORD = /^(\S+) (stdout|stderr) ([FP]) (.*)$/s;

export function parseRecord(line: string): LogRecord | undefined {
  const m = RECORD.exec(line);
  if (!m) return undefined;
  return { time: m[1], stream: m[2] as LogRecord["stream"], complete: m[3] === "F", text: m[4] };
}

/** The files of one log, oldest first, those that exist. */
export function logFiles(path: string, maxFiles: number): string[] {
  const out: string[] = [];
  for (let i = Math.max(1, maxFiles) - 1; i >= 1; i--) if (existsSync(`${path}.${i}`)) out.push(`${path}.${i}`);
  if (existsSync(path)) out.push(path);
  return out;
}

/**
 * Times as comparable text: our records carry 9 fractional digits and a Z; a bound from the user
 * (Date) is written the same way, so plain string comparison orders them.
 */
export function comparableTime(d: Date): string {
  return isoUtc(d.getTime()).replace(/\.(\d{3})Z$/, ".$1000000Z");
}

export interface LogFilter {
  since?: string;
  until?: string;
}

export function keep(r: LogRecord, f: LogFilter): boolean {
  return (f.since === undefined || r.time >= f.since) && (f.until === undefined || r.time < f.until);
}

/** Reads a file from `offset` to its end, in whole lines; returns them and the new offset. */
export function readLines(fd: number, offset: number, carry: { rest: string }): { lines: string[]; offset: number } {
  const chunk = Buffer.allocUnsafe(64 * 1024);
  let text = carry.rest;
  for (;;) {
    const n = readSync(fd, chunk, 0, chunk.length, offset);
    if (n <= 0) break;
    offset += n;
    text += chunk.toString("utf8", 0, n);
  }
  const lines = text.split("\n");
  carry.rest = lines.pop() ?? "";
  return { lines, offset };
}

/** Where a reader stopped in the current file: follow() goes on from there. */
export interface ReadPosition {
  ino: number;
  offset: number;
}

/** Every record of the log, oldest first; `pos` gets where the current file was read up to. */
export function readAll(path: string, maxFiles: number, pos?: ReadPosition): LogRecord[] {
  const out: LogRecord[] = [];
  for (const file of logFiles(path, maxFiles)) {
    let fd: number;
    try {
      fd = openSync(file, "r");
    } catch {
      continue; // rotated away between the listing and the open
    }
    try {
      const carry = { rest: "" };
      const read = readLines(fd, 0, carry);
      for (const line of read.lines) {
        const r = parseRecord(line);
        if (r) out.push(r);
      }
      if (pos && file === path) {
        pos.ino = fstatSync(fd).ino;
        pos.offset = read.offset - Buffer.byteLength(carry.rest);
      }
    } finally {
      closeSync(fd);
    }
  }
  return out;
}

/** The records that make up the last `n` lines (a line: P pieces up to its F record). */
export function tail(records: LogRecord[], n: number): LogRecord[] {
  if (n <= 0) return [];
  let lines = 0;
  for (let i = records.length - 1; i >= 0; i--) {
    if (records[i].complete && ++lines > n) return records.slice(i + 1);
  }
  return records;
}

/**
 * Follows the current file from where readAll stopped: polls every `pollMs`, switches to the new
 * file after a rotation (once the old one is read to its end) and starts over after truncation.
 * Ends when `done()` says the writer is gone and the file has been read to its end.
 */
export async function follow(
  path: string,
  maxFiles: number,
  from: ReadPosition,
  emit: (r: LogRecord) => void,
  done: () => boolean,
  pollMs = 100,
): Promise<void> {
  let fd = openWait(path);
  let offset = 0;
  if (fd !== undefined && fstatSync(fd).ino === from.ino) offset = from.offset;
  else if (from.ino !== 0) {
    // Rotated between the first read and now: the rest of the file we read (now FILE.k), then
    // what came after it, in order.
    for (let i = 1; i < maxFiles; i++) {
      const st = statOrUndefined(`${path}.${i}`);
      if (st?.ino !== from.ino) continue;
      for (const line of readWhole(`${path}.${i}`, from.offset)) {
        const rec = parseRecord(line);
        if (rec) emit(rec);
      }
      break;
    }
    for (const file of rotatedAfter(path, from.ino, maxFiles)) {
      for (const line of readWhole(file)) {
        const rec = parseRecord(line);
        if (rec) emit(rec);
      }
    }
  }
  const carry = { rest: "" };
  const drain = () => {
    if (fd === undefined) return;
    const r = readLines(fd, offset, carry);
    offset = r.offset;
    for (const line of r.lines) {
      const rec = parseRecord(line);
      if (rec) emit(rec);
    }
  };
  try {
    for (;;) {
      const finished = done(); // asked before the last read, so nothing written before it is missed
      drain();
      if (fd !== undefined) {
        const now = statOrUndefined(path);
        if (now && now.ino !== fstatSync(fd).ino) {
          // Rotated. The writer may have appended to the old file between the read above and
          // its rename: read it to its end once more (nothing is written to it any more). Files
          // rotated after it (when the writer was faster than our polls) come next, oldest
          // first; then the new one.
          drain();
          const oldIno = fstatSync(fd).ino;
          closeSync(fd);
          fd = undefined;
          for (const file of rotatedAfter(path, oldIno, maxFiles)) {
            for (const line of readWhole(file)) {
              const rec = parseRecord(line);
              if (rec) emit(rec);
            }
          }
          fd = openWait(path);
          offset = 0;
          carry.rest = "";
          continue;
        }
        if (now && now.size < offset) {
          offset = 0; // truncated in place
          carry.rest = "";
        }
      } else {
        fd = openWait(path);
        offset = 0;
      }
      if (finished) return;
      await new Promise((r) => setTimeout(r, pollMs));
    }
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** The rotated files newer than the one with inode `ino` (FILE.k): FILE.k-1 … FILE.1; all of them if it fell off. */
function rotatedAfter(path: string, ino: number, maxFiles: number): string[] {
  const files: string[] = [];
  for (let i = 1; i < maxFiles; i++) {
    const st = statOrUndefined(`${path}.${i}`);
    if (!st) continue;
    if (st.ino === ino) break;
    files.push(`${path}.${i}`);
  }
  return files.reverse();
}

function readWhole(file: string, offset = 0): string[] {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch {
    return [];
  }
  try {
    return readLines(fd, offset, { rest: "" }).lines;
  } finally {
    closeSync(fd);
  }
}

function openWait(path: string): number | undefined {
  try {
    return openSync(path, "r");
  } catch {
    return undefined; // between a rotation's rename and the new file: next poll
  }
}

function statOrUndefined(path: string) {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}
