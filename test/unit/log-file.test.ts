// --log FILE is opened when polis starts, as runc opens it: an unusable path is an error up front.
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { configureLog, log } from "../../src/log.js";

const dir = mkdtempSync(join(tmpdir(), "polis-logfile-"));
afterEach(() => configureLog({ format: "text", debug: false }));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("--log", () => {
  it("creates the file before anything is logged", () => {
    const file = join(dir, "made.log");
    configureLog({ file, format: "json", debug: false });
    expect(existsSync(file)).toBe(true);
    log.error("boom");
    expect(JSON.parse(readFileSync(file, "utf8")).msg).toBe("boom");
  });

  it("a missing directory is runc's error, and lines go to stderr after it", () => {
    const file = join(dir, "missing", "x.log");
    expect(() => configureLog({ file, format: "text", debug: false })).toThrow(`open ${file}: no such file or directory`);
    const lines: string[] = [];
    configureLog({ format: "text", debug: false, stderr: (t) => lines.push(t) });
    log.error("after");
    expect(lines.join("")).toContain("after");
  });

  it("a directory is refused with runc's words", () => {
    expect(() => configureLog({ file: dir, format: "text", debug: false })).toThrow(`open ${dir}: is a directory`);
  });
});
