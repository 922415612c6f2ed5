// The V8 flags the launcher gives node, by command (native/launcher/main.c, v8_flags): `monitor`,
// a long-running server, runs with --optimize-for-size --no-opt --no-sparkplug
// --regexp-interpret-all --single-threaded-gc; every other command gets none
// (a V8 flag makes node reject the code cache of its own modules: 10-20 ms more per start).
// Checked on node's argv as the launcher execs it: through a stand-in for node (POLIS_NODE),
// and on a real monitor's /proc/<pid>/cmdline (and its environ: MALLOC_TOP_PAD_=0).
import { spawn } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { POLIS, polis, tempRoot } from "../helpers/polis.js";

const MONITOR_FLAGS = ["--optimize-for-size", "--no-opt", "--no-sparkplug", "--regexp-interpret-all", "--single-threaded-gc"];
const root = tempRoot();
const dir = mkdtempSync(join(tmpdir(), "polis-node-flags-"));
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
});

/** node's argv (after argv[0]) for `polis ARGS`, as a stand-in for node records it. */
function nodeArgv(args: string[]): string[] {
  const out = join(dir, "argv");
  const fake = join(dir, "node");
  writeFileSync(fake, `#!/bin/sh\nprintf '%s\\n' "$@" > ${out}\n`);
  chmodSync(fake, 0o755);
  rmSync(out, { force: true });
  const r = polis(root, args, { env: { POLIS_NODE: fake, POLIS_NATIVE: "0" } });
  expect(r.code).toBe(0);
  return readFileSync(out, "utf8").trimEnd().split("\n");
}

describe("node's V8 flags", () => {
  it("monitor gets its V8 flags before the entry; other commands none", () => {
    const entry = (argv: string[]) => argv.findIndex((a) => a.endsWith("/polis-entry.cjs"));
    const monitor = nodeArgv(["monitor", "--listen", "127.0.0.1:0"]);
    expect(monitor.slice(0, entry(monitor))).toEqual(MONITOR_FLAGS);
    expect(monitor.slice(entry(monitor) + 1)).toEqual(["--root", root, "monitor", "--listen", "127.0.0.1:0"]);
    for (const args of [
      ["images"],
      ["pull", "x"],
      ["ps", "x"],
      ["state", "x"],
      ["spec"],
      ["stats", "--no-stream"],
      ["events", "monitor"],
    ]) {
      const argv = nodeArgv(args);
      expect(entry(argv), args.join(" ")).toBe(0);
    }
  });

  it("a real monitor runs under them and serves its metrics", async () => {
    const env = { ...process.env };
    delete env.NODE_EXTRA_CA_CERTS;
    const child = spawn(POLIS, ["--root", root, "monitor", "--listen", "127.0.0.1:0", "--interval", "1h"], {
      env,
      stdio: ["ignore", "pipe", "ignore"],
    });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = "";
        child.stdout.on("data", (d) => {
          out += d;
          const m = /listening on (\S+)/.exec(out);
          if (m) resolve(m[1]);
        });
        child.once("exit", (code) => reject(new Error(`monitor exited ${code}`)));
      });
      // the launcher execs node: the same pid
      const cmdline = readFileSync(`/proc/${child.pid}/cmdline`, "utf8").split("\0");
      expect(cmdline.slice(1, 1 + MONITOR_FLAGS.length)).toEqual(MONITOR_FLAGS);
      // and glibc's malloc without a top pad (main.c, monitor_malloc_env), unless the user set one
      const environ = readFileSync(`/proc/${child.pid}/environ`, "utf8").split("\0");
      expect(environ).toContain("MALLOC_TOP_PAD_=0");
      const text = await (await fetch(`${url}/metrics`)).text();
      const rss = /^polis_monitor_process_resident_memory_bytes (\d+)$/m.exec(text);
      const status = readFileSync(`/proc/${child.pid}/status`, "utf8");
      const vmRss = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]) * 1024;
      expect(Number(rss?.[1])).toBeGreaterThan(vmRss / 2);
      expect(Number(rss?.[1])).toBeLessThan(vmRss * 2);
    } finally {
      child.kill("SIGTERM");
      await new Promise((r) => (child.exitCode !== null ? r(null) : child.once("exit", r)));
    }
  });
});
