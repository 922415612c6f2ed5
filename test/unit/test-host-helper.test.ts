// The test helper that decides what a suite needs against what the host has: a missing package is
// a logged skip locally and an error in CI; what the kernel lacks is never an error.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { blockDevice, debInstalled, hugePageSizes, lacking } from "../helpers/host.js";

const dir = mkdtempSync(join(tmpdir(), "polis-host-helper-"));
afterEach(() => vi.unstubAllEnvs());
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("lacking()", () => {
  it("names a missing package and logs the skip for the summary", () => {
    const log = join(dir, "skips.txt");
    vi.stubEnv("CI", "");
    vi.stubEnv("POLIS_TEST_SKIP_LOG", log);
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const why = lacking("a suite", { packages: ["polis-no-such-package"] });
    expect(why).toBe("Debian package polis-no-such-package missing (apt-get install polis-no-such-package)");
    expect(readFileSync(log, "utf8")).toBe(`a suite: ${why}\n`);
    expect(lacking("a suite", { packages: ["dpkg"], files: ["/"] })).toBe(""); // present: nothing to say
    rmSync(log);
  });

  it("fails in CI instead of skipping for a missing package or file, but not for a kernel feature", () => {
    vi.stubEnv("CI", "true");
    vi.stubEnv("POLIS_TEST_SKIP_LOG", "");
    vi.spyOn(console, "warn").mockImplementation(() => {});
    expect(() => lacking("a suite", { files: ["/no/such/client"] })).toThrow(
      "a suite: missing /no/such/client (CI must run every suite)",
    );
    expect(lacking("a suite", { controllers: ["no_such_controller"] })).toBe(
      "cgroup controller no_such_controller not available",
    );
  });

  it("reads host facts: dpkg status, huge page sizes, a real block device", () => {
    expect(debInstalled("dpkg")).toBe(true);
    expect(debInstalled("polis-no-such-package")).toBe(false);
    for (const s of hugePageSizes()) expect(s).toMatch(/^\d+(KB|MB|GB)$/);
    const dev = blockDevice();
    if (dev) expect(readFileSync(`/sys/dev/block/${dev.major}:${dev.minor}/uevent`, "utf8")).toContain("DEVTYPE=disk");
  });
});
