// The launcher's cgroup-lock warmer (native/launcher/warm.c): started for `create` and `run`
// before node, never node's child, holding nothing of the caller's, gone when node has spawned
// its shim or has exited; no fd of it reaches node, the hooks node runs, or the container.
//
// A stand-in for node (POLIS_NODE, a python script exec'd by the launcher in node's place) looks
// at the warmer from where node would be; the real node path is checked through a hook.
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, closeSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { POLIS, polis, polisOk, tempRoot, uniqueId } from "../helpers/polis.js";
import { busyboxBundle } from "../helpers/rootfs.js";

const root = tempRoot(); // unique: the marker that finds this file's polis processes in /proc
process.env.WARM_MARKER = root; // and its warmers (their own cmdline: in their environment)
const dir = mkdtempSync(join(tmpdir(), "polis-warmer-"));
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
});

interface Seen {
  pid: number;
  ppid: number;
  fds: Record<string, string>;
  cwd: string;
  cgroup: string;
  comm: string;
  cmdline: string;
}

/**
 * Every process (but `self`) whose command line has `marker` as one argument, and every warmer
 * (comm polis-warm) with `WARM_MARKER=marker` in its environment: a warmer has its own cmdline.
 */
const FIND = `
def fds_of(pid):
    d = f"/proc/{pid}/fd"
    fds = {}
    for fd in os.listdir(d):
        try:
            fds[fd] = os.readlink(f"{d}/{fd}")
        except OSError:
            pass  # the directory listing's own fd
    return fds

def procs_with(marker, self):
    found = []
    for p in os.listdir("/proc"):
        if not p.isdigit() or int(p) == self:
            continue
        try:
            cmdline = open(f"/proc/{p}/cmdline", "rb").read()
            comm = open(f"/proc/{p}/comm").read().strip()
            env = open(f"/proc/{p}/environ", "rb").read().split(b"\\0")
            warmer = comm == "polis-warm" and b"WARM_MARKER=" + marker.encode() in env
            if marker.encode() not in cmdline.split(b"\\0") and not warmer:
                continue
            status = open(f"/proc/{p}/status").read()
            if "\\nState:\\tZ" in status:
                continue
            ppid = int(status.split("\\nPPid:\\t")[1].split("\\n")[0])
            fds = fds_of(p)
            cg = open(f"/proc/{p}/cgroup").read()
            found.append({"pid": int(p), "ppid": ppid, "fds": fds, "cwd": os.readlink(f"/proc/{p}/cwd"), "cgroup": cg, "comm": comm, "cmdline": cmdline.decode("latin-1")})
        except (OSError, IndexError):
            continue
    return found
`;

/**
 * The stand-in for node: records its own fds and the warmer(s) it sees, then (mode "child")
 * starts a child as node starts its shim and looks again 300 ms later, or just lingers 300 ms.
 */
const fakeNode = join(dir, "fake-node.py");
writeFileSync(
  fakeNode,
  `#!/usr/bin/python3
import json, os, subprocess, sys, time
${FIND}
me = os.getpid()
marker, out, mode = os.environ["WARM_MARKER"], os.environ["WARM_OUT"], os.environ.get("WARM_MODE", "linger")
fds = fds_of(me)
seen = procs_with(marker, me)
later = None
if mode == "child":
    child = subprocess.Popen(["sleep", "1"], close_fds=True)
    time.sleep(0.3)
    later = procs_with(marker, me)
    child.kill()
    child.wait()
else:
    time.sleep(0.3)
json.dump({"pid": me, "fds": fds, "cgroup": open("/proc/self/cgroup").read(), "seen": seen, "later": later}, open(out, "w"))
`,
);
chmodSync(fakeNode, 0o755);

interface Report {
  pid: number;
  cgroup: string;
  fds: Record<string, string>;
  seen: Seen[];
  later: Seen[] | null;
}

/** polis ARGS with the stand-in node; `extra` is given to polis as its fd 3 (a --preserve-fds fd). */
function viaFakeNode(args: string[], env: Record<string, string> = {}): { report: Report; warmers: number[] } {
  const out = join(dir, `report-${uniqueId()}.json`);
  const extraPath = join(dir, "extra");
  const extra = openSync(extraPath, "w");
  const stdout = openSync(join(dir, "stdout"), "w");
  const e: NodeJS.ProcessEnv = { ...process.env, POLIS_NODE: fakeNode, WARM_MARKER: root, WARM_OUT: out, ...env };
  delete e.NODE_EXTRA_CA_CERTS;
  try {
    const r = spawnSync(POLIS, ["--root", root, ...args], { stdio: ["ignore", stdout, "pipe", extra], env: e, timeout: 20_000 });
    expect(r.status, String(r.stderr)).toBe(0);
  } finally {
    closeSync(extra);
    closeSync(stdout);
  }
  const report = JSON.parse(readFileSync(out, "utf8")) as Report;
  return { report, warmers: report.seen.map((s) => s.pid) };
}

/** Processes of this file's root still there (not zombies) after `ms`. */
async function leftAfter(ms: number): Promise<number[]> {
  const t0 = Date.now();
  let left: number[] = [];
  while (Date.now() - t0 < ms) {
    left = readdirSync("/proc")
      .filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid)
      .filter((p) => {
        try {
          const argv = readFileSync(`/proc/${p}/cmdline`, "utf8").split("\0");
          const warmer =
            readFileSync(`/proc/${p}/comm`, "utf8").trim() === "polis-warm" &&
            readFileSync(`/proc/${p}/environ`, "utf8").split("\0").includes(`WARM_MARKER=${root}`);
          return (argv.includes(root) || warmer) && !readFileSync(`/proc/${p}/status`, "utf8").includes("\nState:\tZ");
        } catch {
          return false;
        }
      })
      .map(Number);
    if (left.length === 0) return left;
    await new Promise((r) => setTimeout(r, 20));
  }
  return left;
}

const WARMER_FDS = /^(\/dev\/null|anon_inode:\[pidfd\]|.*\/cgroup\.procs|\/proc\/.*)$/;

describe("the launcher's cgroup-lock warmer", () => {
  it.each(["create", "run"])(
    "%s: runs beside node from the start, is not node's child and holds nothing of the caller's",
    async (cmd) => {
      const { report } = viaFakeNode([cmd, "--bundle", dir, uniqueId("w")]);
      expect(report.seen).toHaveLength(1);
      const w = report.seen[0];
      expect(w.ppid).not.toBe(report.pid);
      expect(w.cwd).toBe("/");
      expect(w.comm).toBe("polis-warm");
      // its own command line: `pgrep -f 'polis create'` and the like do not see it
      expect(w.cmdline).toBe("polis-warm\0");
      for (const fd of ["0", "1", "2"]) expect(w.fds[fd]).toBe("/dev/null");
      for (const target of Object.values(w.fds)) expect(target).toMatch(WARMER_FDS);
      // polis's own cgroup, never a container's (no container's pids cgroup is charged for it)
      expect(w.cgroup).toBe(report.cgroup);
      // node (here its stand-in) got nothing from it: no pidfd, no cgroup file
      expect(Object.values(report.fds).filter((t) => /pidfd|cgroup/.test(t))).toEqual([]);
      // and it ends with node (its stand-in exited; the warmer's own limit is 2 s)
      expect(await leftAfter(1000)).toEqual([]);
    },
  );

  it("stops once node has spawned a child (the shim takes the warming over)", async () => {
    const { report } = viaFakeNode(["run", "--bundle", dir, uniqueId("w")], { WARM_MODE: "child" });
    expect(report.seen).toHaveLength(1);
    expect(report.later).toEqual([]);
    expect(await leftAfter(1000)).toEqual([]);
  });

  it("is not started for other commands handed to node, nor with POLIS_WARM=0", async () => {
    expect(viaFakeNode(["state", "nothing-here"], { POLIS_NATIVE: "0" }).report.seen).toEqual([]);
    expect(viaFakeNode(["spec", "--bundle", dir]).report.seen).toEqual([]);
    const off = viaFakeNode(["create", "--bundle", dir, uniqueId("w")], { POLIS_WARM: "0" });
    expect(off.report.seen).toEqual([]);
    // node's fds are the same with and without it
    const on = viaFakeNode(["create", "--bundle", dir, uniqueId("w")]);
    const fds = (r: Report) =>
      Object.entries(r.fds)
        .map(([fd, t]) => `${fd} ${t.replace(/\[\d+\]/g, "[N]")}`)
        .sort();
    expect(fds(on.report)).toContain(`3 ${join(dir, "extra")}`);
    expect(fds(on.report)).toEqual(fds(off.report));
  });

  it("leaves nothing behind after a real create, run and a failed create; hooks get no fd of it", async () => {
    const hookOut = join(dir, `hook-${uniqueId()}`);
    const hook = join(dir, "fds-hook.sh");
    // the hook's own fds, as node passed them (ls's own directory fd aside)
    writeFileSync(hook, `#!/bin/sh\ncat >/dev/null\nfor f in /proc/$$/fd/*; do echo "\${f##*/} $(readlink $f)"; done >> "$1"\n`);
    chmodSync(hook, 0o755);
    const bundle = busyboxBundle((c) => {
      c.process!.args = ["/bin/true"];
      c.hooks = { createRuntime: [{ path: hook, args: ["fds-hook", hookOut] }] };
    });
    // the hook's fds with and without the warmer must be the same
    const cfg = JSON.parse(readFileSync(join(bundle, "config.json"), "utf8"));
    const withHook = (file: string) => {
      cfg.hooks.createRuntime[0].args = ["fds-hook", file];
      writeFileSync(join(bundle, "config.json"), JSON.stringify(cfg));
    };
    withHook(`${hookOut}-on`);
    polisOk(root, ["run", "--bundle", bundle, uniqueId("w")]);
    withHook(`${hookOut}-off`);
    polisOk(root, ["run", "--bundle", bundle, uniqueId("w")], { env: { POLIS_WARM: "0" } });
    // pipe and socket inode numbers differ from run to run
    const fdsOf = (file: string) =>
      readFileSync(file, "utf8")
        .replace(/\[\d+\]/g, "[N]")
        .replace(file, "OUT");
    const on = fdsOf(`${hookOut}-on`);
    expect(on).toMatch(/^0 /);
    expect(on).not.toMatch(/pidfd|cgroup\.procs/);
    expect(on).toBe(fdsOf(`${hookOut}-off`));

    const id = uniqueId("w");
    withHook(`${hookOut}-create`);
    polisOk(root, ["create", "--bundle", bundle, id]);
    polisOk(root, ["delete", "--force", id]);
    // a create that fails after validation (the id is taken) and one that fails before
    const taken = uniqueId("w");
    polisOk(root, ["create", "--bundle", bundle, taken]);
    expect(polis(root, ["create", "--bundle", bundle, taken]).code).toBe(1);
    polisOk(root, ["delete", "--force", taken]);
    expect(polis(root, ["create", "--bundle", join(dir, "no-such-bundle"), uniqueId("w")]).code).toBe(1);
    expect(await leftAfter(1000)).toEqual([]);
    rmSync(bundle, { recursive: true, force: true });
  });

  it("ends with node when polis is SIGKILLed while node boots", async () => {
    const bundle = busyboxBundle((c) => {
      c.process!.args = ["/bin/true"];
    });
    // node's path (a plain create is native, done before the delays below, without a warmer)
    const e: NodeJS.ProcessEnv = { ...process.env, POLIS_NATIVE: "0" };
    delete e.NODE_EXTRA_CA_CERTS;
    for (const delay of [5, 20, 40]) {
      const id = uniqueId("w");
      const child = spawn(POLIS, ["--root", root, "create", "--bundle", bundle, id], { stdio: "ignore", env: e });
      await new Promise((r) => setTimeout(r, delay));
      child.kill("SIGKILL");
      await new Promise((r) => child.once("exit", r));
      // the warmer's own limit is 2 s: only node's end can have ended it this soon
      expect(await leftAfter(1000)).toEqual([]);
      polis(root, ["delete", "--force", id]);
    }
    rmSync(bundle, { recursive: true, force: true });
  });
});
