// Log lines in runc's (logrus's) shapes: containerd parses the JSON ones out of --log files.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { configureLog, formatLine, log, logsToFile, rfc3339 } from "../../src/log.js";

const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$/;
const at = new Date("2026-11-28T08:22:53.123Z");
const dirs: string[] = [];
afterEach(() => {
  configureLog({ format: "text", debug: false });
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("formatLine", () => {
  it("json: level, msg, RFC 3339 time, keys sorted like Go's map encoding", () => {
    const line = formatLine("json", "error", "container does not exist", {}, at);
    const obj = JSON.parse(line);
    expect(Object.keys(obj)).toEqual(["level", "msg", "time"]);
    expect(obj).toMatchObject({ level: "error", msg: "container does not exist" });
    expect(obj.time).toMatch(RFC3339);
    expect(new Date(obj.time).getTime()).toBe(Math.floor(at.getTime() / 1000) * 1000);
    const withFields = JSON.parse(formatLine("json", "warning", "m", { step: "mount", errno: "ENOENT" }, at));
    expect(Object.keys(withFields)).toEqual(["errno", "level", "msg", "step", "time"]);
  });

  it("text: logrus's time=… level=… msg=… with Go quoting", () => {
    const line = formatLine("text", "error", 'runc: "state" requires exactly 1 argument(s)', {}, at);
    expect(line).toMatch(/^time="[^"]+" level=error msg="runc: \\"state\\" requires exactly 1 argument\(s\)"$/);
    expect(formatLine("text", "info", "plain-word", { b: 2, a: "x y" }, at)).toMatch(/ level=info msg=plain-word a="x y" b=2$/);
    expect(formatLine("text", "debug", "tab\there\x01", {}, at)).toContain('msg="tab\\there\\x01"');
  });

  it("rfc3339 prints local time with its offset, UTC as Z, whatever the host's zone", () => {
    const text = rfc3339(at);
    expect(text).toMatch(RFC3339);
    expect(new Date(text).getTime()).toBe(Math.floor(at.getTime() / 1000) * 1000); // the same instant
    expect(text.endsWith("Z")).toBe(at.getTimezoneOffset() === 0);
    const utc = process.env.TZ;
    process.env.TZ = "UTC"; // node re-reads TZ when it changes
    try {
      expect(rfc3339(at)).toBe("2026-11-28T08:22:53Z");
    } finally {
      if (utc === undefined) delete process.env.TZ;
      else process.env.TZ = utc;
    }
  });
});

describe("log sinks", () => {
  it("without --log, lines go to stderr in the chosen format; debug only with --debug", () => {
    const lines: string[] = [];
    configureLog({ format: "json", debug: false, stderr: (t) => lines.push(t) });
    log.error("e1");
    log.warn("w1");
    log.info("i1");
    log.debug("d1");
    expect(logsToFile()).toBe(false);
    expect(lines.map((l) => JSON.parse(l).level)).toEqual(["error", "warning", "info"]);
    for (const l of lines) expect(l.endsWith("}\n")).toBe(true);
    configureLog({ format: "text", debug: true, stderr: (t) => lines.push(t) });
    log.debug("d2", { k: "v" });
    expect(lines.at(-1)).toMatch(/^time="[^"]+" level=debug msg=d2 k=v\n$/);
  });

  it("with --log, every line is a JSON object appended to the file", () => {
    const dir = mkdtempSync(join(tmpdir(), "polis-log-"));
    dirs.push(dir);
    const file = join(dir, "log.json");
    const stderr: string[] = [];
    configureLog({ file, format: "json", debug: true, stderr: (t) => stderr.push(t) });
    expect(logsToFile()).toBe(true);
    log.error("first", { errno: "ENOENT" });
    log.debug("second");
    configureLog({ file, format: "json", debug: false }); // a second invocation appends
    log.warn("third");
    const lines = readFileSync(file, "utf8")
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      ["error", "first"],
      ["debug", "second"],
      ["warning", "third"],
    ]);
    for (const l of lines) {
      expect(typeof l.level).toBe("string");
      expect(typeof l.msg).toBe("string");
      expect(l.time).toMatch(RFC3339);
    }
    expect(lines[0].errno).toBe("ENOENT");
    expect(stderr).toEqual([]); // the file got them, not stderr
  });
});
