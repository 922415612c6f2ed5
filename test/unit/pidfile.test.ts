// --pid-file: written atomically, never through a link planted in its directory.
import { lstatSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { writePidFile } from "../../src/container/pidfile.js";

const dir = mkdtempSync(join(tmpdir(), "polis-pidfile-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("writePidFile", () => {
  it("writes the pid without a newline, mode 0666 less the umask, and leaves no temp file", () => {
    const path = join(dir, "plain.pid");
    writePidFile(path, 4242);
    expect(readFileSync(path, "utf8")).toBe("4242");
    expect(statSync(path).mode & 0o777).toBe(0o666 & ~process.umask());
    expect(readdirSync(dir).filter((f) => f.startsWith(".plain.pid"))).toEqual([]);
  });

  it("does not follow a symlink planted where the old temp file name was", () => {
    const victim = join(dir, "victim");
    writeFileSync(victim, "precious");
    const path = join(dir, "planted.pid");
    // the name polis used before: .<name>.<pid>.tmp, predictable from the pid
    symlinkSync(victim, join(dir, `.planted.pid.${process.pid}.tmp`));
    writePidFile(path, 17);
    expect(readFileSync(victim, "utf8")).toBe("precious");
    expect(readFileSync(path, "utf8")).toBe("17");
    expect(lstatSync(path).isFile()).toBe(true);
  });

  it("replaces a symlink at the pid file's own path instead of writing through it", () => {
    const victim = join(dir, "victim2");
    writeFileSync(victim, "precious");
    const path = join(dir, "link.pid");
    symlinkSync(victim, path);
    writePidFile(path, 99);
    expect(readFileSync(victim, "utf8")).toBe("precious");
    expect(lstatSync(path).isSymbolicLink()).toBe(false);
    expect(readFileSync(path, "utf8")).toBe("99");
  });

  it("fails with the flag and the errno when the directory is missing", () => {
    expect(() => writePidFile(join(dir, "missing", "x.pid"), 1)).toThrow(/--pid-file: write .*missing\/x\.pid: ENOENT/);
  });
});
