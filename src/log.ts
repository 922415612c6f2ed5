// polis's log: runc's line formats (logrus), because callers parse them. containerd reads the
// `--log <file> --log-format json` file to report why the runtime failed, so every JSON line is an
// object with string `level` ("error", "warning", "info", "debug"), `msg` and an RFC 3339 `time`.
//
// Why not pino (the project's logger): loading it costs 35–55 ms, and the error path, where
// nearly every line is written, is hot (containerd kills stopped tasks and deletes gone ones all
// the time). Its line shape also needs formatters to become logrus's (level labels, `warning`,
// string time, no pid/hostname), and it has no logrus text format at all. A log line here is one
// JSON.stringify or one template string, written synchronously so that it is on disk before
// process.exit.
import { closeSync, openSync, writeSync } from "node:fs";
import { PolisError } from "./errors.js";
import { isoUtc } from "./time.js";

export type LogFormat = "text" | "json";
export type Level = "error" | "warning" | "info" | "debug";
export type Fields = Record<string, unknown>;

export interface LogConfig {
  file?: string; // --log; default stderr
  format: LogFormat;
  debug: boolean;
  /** Where "stderr" lines go instead of fd 2 (tests, embedding). */
  stderr?: (text: string) => void;
}

interface Sink {
  config: LogConfig;
  fd: number | undefined; // the --log file (opened by configureLog), or 2 once a line went to stderr
}

let sink: Sink = { config: { format: "text", debug: false }, fd: undefined };

/**
 * Set up logging from the global flags. Like runc, a --log file is opened (created) right away:
 * a path that cannot be used is an error before the command does anything (lines then go to
 * stderr), not a silent fallback.
 */
export function configureLog(config: LogConfig): void {
  if (sink.fd !== undefined && sink.fd !== 2) closeSync(sink.fd);
  sink = { config: { ...config }, fd: undefined };
  if (!logsToFile()) return;
  try {
    // O_APPEND: containerd and the shim may share the file with other polis invocations.
    sink.fd = openSync(config.file!, "a", 0o644);
  } catch (e) {
    sink = { config: { ...config, file: undefined }, fd: undefined };
    const err = e as NodeJS.ErrnoException;
    // runc's words: "open /x/y.log: no such file or directory"
    const why =
      err.code === "EISDIR" ? "is a directory" : (/^[A-Z0-9]+: (.*?), /.exec(err.message)?.[1] ?? err.code ?? err.message);
    throw new PolisError(`open ${config.file}: ${why}`, { step: "open the --log file", errno: err.code });
  }
}

/** True when log lines go to a file rather than stderr (main then also prints errors to stderr). */
export function logsToFile(): boolean {
  return sink.config.file !== undefined && sink.config.file !== "" && sink.config.file !== "/dev/stderr";
}

export function debugEnabled(): boolean {
  return sink.config.debug;
}

export const log = {
  error: (msg: string, fields?: Fields) => write("error", msg, fields),
  warn: (msg: string, fields?: Fields) => write("warning", msg, fields),
  info: (msg: string, fields?: Fields) => write("info", msg, fields),
  debug: (msg: string, fields?: Fields) => {
    if (sink.config.debug) write("debug", msg, fields);
  },
};

function write(level: Level, msg: string, fields?: Fields): void {
  const line = formatLine(sink.config.format, level, msg, fields) + "\n";
  if (sink.config.stderr && !logsToFile()) {
    sink.config.stderr(line);
    return;
  }
  const fd = target();
  try {
    writeAll(fd, line);
  } catch {
    // A log that cannot be written must not turn a result into a different failure.
  }
}

function target(): number {
  return (sink.fd ??= 2);
}

function writeAll(fd: number, text: string): void {
  const buf = Buffer.from(text);
  let off = 0;
  while (off < buf.length) off += writeSync(fd, buf, off);
}

/** One log line without the newline, in logrus's text or JSON shape. */
export function formatLine(format: LogFormat, level: Level, msg: string, fields: Fields = {}, now = new Date()): string {
  const time = rfc3339(now);
  if (format === "json") {
    // logrus marshals a map, so keys come out sorted; mirror that.
    const obj: Record<string, unknown> = { ...fields, level, msg, time };
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(obj).sort()) sorted[k] = obj[k];
    return JSON.stringify(sorted);
  }
  let line = `time=${textValue(time)} level=${level} msg=${textValue(msg)}`;
  for (const k of Object.keys(fields).sort()) line += ` ${k}=${textValue(fields[k])}`;
  return line;
}

/** RFC 3339 to the second in local time, as Go's time.RFC3339 (UTC prints as `Z`). */
export function rfc3339(d: Date): string {
  const offMin = -d.getTimezoneOffset();
  const local = isoUtc(d.getTime() + offMin * 60_000).slice(0, 19);
  if (offMin === 0) return `${local}Z`;
  const sign = offMin > 0 ? "+" : "-";
  const abs = Math.abs(offMin);
  return `${local}${sign}${String(Math.floor(abs / 60)).padStart(2, "0")}:${String(abs % 60).padStart(2, "0")}`;
}

/** logrus quotes a value unless it is made only of letters, digits and `-._/@^+`. */
function textValue(v: unknown): string {
  const s = typeof v === "string" ? v : v instanceof Error ? v.message : typeof v === "object" ? JSON.stringify(v) : String(v);
  if (s !== "" && /^[A-Za-z0-9\-._/@^+]+$/.test(s)) return s;
  return goQuote(s);
}

/** Go's %q for the characters that matter here; JSON's escaping differs only in control bytes. */
function goQuote(s: string): string {
  return JSON.stringify(s).replace(/\\u00([0-9a-f]{2})/g, (m, hex: string) => {
    const code = parseInt(hex, 16);
    return code === 0x7f || code < 0x20 ? `\\x${hex}` : m;
  });
}
