// Which fds reach the container's process: only 0, 1, 2 and the --preserve-fds ones, whatever
// else the caller leaked (containerd's ttrpc socket on fd 3, podman's sockets). Checked from the
// host in /proc/<pid>/fd once the container's process has exec'd.
import { spawn, type StdioOptions } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { POLIS, polis, polisOk, tempRoot, uniqueId, waitFor } from "../helpers/polis.js";
import { busyboxBundle } from "../helpers/rootfs.js";

const root = tempRoot();
afterAll(() => rmSync(root, { recursive: true, force: true }));

type Extra = number | "pipe";

interface Spawned {
  done: Promise<number | null>;
  stderr(): string;
}

/** polis with stdout/stderr in files and `extra` as its fds 3, 4, … ("pipe": a socketpair end). */
function polisWith(dir: string, args: string[], extra: Extra[]): Spawned {
  const out = openSync(join(dir, "out"), "w+");
  const err = openSync(join(dir, "err"), "w+");
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  const child = spawn(POLIS, ["--root", root, ...args], {
    stdio: ["ignore", out, err, ...extra] as StdioOptions,
    env,
  });
  closeSync(out);
  closeSync(err);
  const done = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { done, stderr: () => readFileSync(join(dir, "err"), "utf8") };
}

function initPid(id: string): number {
  return JSON.parse(polisOk(root, ["state", id]).stdout).pid;
}

/** /proc/<pid>/stat's state letter (R, S, D, Z…). */
function procState(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.charAt(stat.lastIndexOf(")") + 2);
}

/** The container's `sleep` after exec: fd number -> what it points at. The exe link changes a
 *  moment before execve closes the CLOEXEC fds, so wait until sleep is asleep. */
async function execedFds(pid: number): Promise<Map<number, string>> {
  await waitFor(() => readlinkSync(`/proc/${pid}/exe`).endsWith("busybox") && procState(pid) === "S");
  const fds = readdirSync(`/proc/${pid}/fd`)
    .map(Number)
    .sort((a, b) => a - b);
  return new Map(fds.map((fd) => [fd, readlinkSync(`/proc/${pid}/fd/${fd}`)]));
}

/** A fresh temp dir with two files whose fds play the caller's preserved fds. */
function fixtureFiles(): { dir: string; a: string; b: string; fa: number; fb: number; close(): void } {
  const dir = mkdtempSync(join(tmpdir(), "polis-fds-"));
  const a = join(dir, "preserved-a");
  const b = join(dir, "preserved-b");
  const fa = openSync(a, "w+");
  const fb = openSync(b, "w+");
  return {
    dir,
    a,
    b,
    fa,
    fb,
    close() {
      closeSync(fa);
      closeSync(fb);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

type Mode = "create+start" | "run --detach";

async function detached(
  mode: Mode,
  preserve: boolean,
): Promise<Map<number, string> & { files: { a: string; b: string; out: string } }> {
  const f = fixtureFiles();
  const id = uniqueId("fds");
  const bundle = busyboxBundle(); // sleep 1000
  try {
    // fd 3 is a socket like containerd's; with --preserve-fds 2 the two files come first
    const extra: Extra[] = preserve ? [f.fa, f.fb, "pipe"] : ["pipe"];
    const flags = preserve ? ["--preserve-fds", "2"] : [];
    const cmd = mode === "create+start" ? ["create", ...flags] : ["run", "--detach", ...flags];
    const p = polisWith(f.dir, [...cmd, "--bundle", bundle, id], extra);
    expect(await p.done, p.stderr()).toBe(0);
    if (mode === "create+start") polisOk(root, ["start", id]);
    const fds = await execedFds(initPid(id));
    return Object.assign(fds, { files: { a: f.a, b: f.b, out: join(f.dir, "out") } });
  } finally {
    polis(root, ["delete", "--force", id]);
    rmSync(bundle, { recursive: true, force: true });
    f.close();
  }
}

describe("fds reaching the container", () => {
  for (const mode of ["create+start", "run --detach"] as Mode[]) {
    it(`${mode}: a leaked fd 3 socket does not reach the container`, async () => {
      const fds = await detached(mode, false);
      expect([...fds.keys()]).toEqual([0, 1, 2]);
      expect(fds.get(0)).toBe("/dev/null");
      expect(fds.get(1)).toBe(fds.files.out);
    });

    it(`${mode}: --preserve-fds 2 passes exactly fds 3 and 4, the same files`, async () => {
      const fds = await detached(mode, true);
      expect([...fds.keys()]).toEqual([0, 1, 2, 3, 4]);
      expect(fds.get(3)).toBe(fds.files.a);
      expect(fds.get(4)).toBe(fds.files.b);
    });
  }

  for (const preserve of [false, true]) {
    it(`foreground run${preserve ? " --preserve-fds 2" : ""}: only stdio${preserve ? " and fds 3, 4" : ""}`, async () => {
      const f = fixtureFiles();
      const id = uniqueId("fdsfg");
      const bundle = busyboxBundle();
      try {
        const extra: Extra[] = preserve ? [f.fa, f.fb, "pipe"] : ["pipe"];
        const flags = preserve ? ["--preserve-fds", "2"] : [];
        const p = polisWith(f.dir, ["run", ...flags, "--bundle", bundle, id], extra);
        await waitFor(() => polis(root, ["state", id]).stdout.includes('"running"'), 15_000);
        const fds = await execedFds(initPid(id));
        expect([...fds.keys()]).toEqual(preserve ? [0, 1, 2, 3, 4] : [0, 1, 2]);
        expect(fds.get(1)).toBe(join(f.dir, "out"));
        if (preserve) {
          expect(fds.get(3)).toBe(f.a);
          expect(fds.get(4)).toBe(f.b);
        }
        polisOk(root, ["kill", id, "KILL"]);
        expect(await p.done, p.stderr()).toBe(137);
      } finally {
        polis(root, ["delete", "--force", id]);
        rmSync(bundle, { recursive: true, force: true });
        f.close();
      }
    });
  }
});
