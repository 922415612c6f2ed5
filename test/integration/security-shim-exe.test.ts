// CVE-2019-5736 class: while polis-shim runs in a container's namespaces (the init before its
// exec, an exec's shim), /proc/<pid>/exe must not lead to a writable host file. The shim runs from
// a sealed memfd copy of itself; checked from outside: what the link points at, the seals on the
// file behind it (python's fcntl, as Node has no F_GET_SEALS), and a refused write.
import { spawn, spawnSync } from "node:child_process";
import { openSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { withRunning } from "../helpers/containers.js";
import { nsInode, polis, polisOk, POLIS, tempRoot, uniqueId, waitFor } from "../helpers/polis.js";
import { busyboxBundle } from "../helpers/rootfs.js";

let root: string;
beforeAll(() => {
  root = tempRoot();
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const F_SEAL_SEAL = 1;
const F_SEAL_SHRINK = 2;
const F_SEAL_GROW = 4;
const F_SEAL_WRITE = 8;

/** The seals of the file /proc/<pid>/exe opens (-1: not a memfd, it cannot be sealed). */
function sealsOf(pid: number): number {
  const py = `import fcntl, os\nfd = os.open("/proc/${pid}/exe", os.O_RDONLY)\ntry:\n  print(fcntl.fcntl(fd, fcntl.F_GET_SEALS))\nexcept OSError:\n  print(-1)`;
  const r = spawnSync("python3", ["-c", py], { encoding: "utf8" });
  return Number(r.stdout.trim());
}

function expectSealedCopy(pid: number): void {
  expect(readlinkSync(`/proc/${pid}/exe`)).toMatch(/^\/memfd:polis-shim/);
  const seals = sealsOf(pid);
  const all = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;
  expect(seals & all, `seals ${seals}`).toBe(all);
  expect(() => openSync(`/proc/${pid}/exe`, "r+")).toThrow(/ETXTBSY|EPERM|EACCES/);
}

describe("/proc/<pid>/exe of the shim in the container's namespaces", () => {
  it("during create (the init waits for start): a sealed memfd, not the host's polis-shim", () => {
    const id = uniqueId("exe");
    const bundle = busyboxBundle();
    try {
      polisOk(root, ["create", "--bundle", bundle, id]);
      const pid = JSON.parse(polisOk(root, ["state", id]).stdout).pid;
      expect(readFileSync(`/proc/${pid}/comm`, "utf8").trim()).toBe("polis-shim");
      expectSealedCopy(pid);
    } finally {
      polis(root, ["delete", "--force", id]);
      rmSync(bundle, { recursive: true, force: true });
    }
  });

  it("during exec (the shim waits for the exec'd process in the container's mount namespace)", async () => {
    await withRunning(
      root,
      () => {},
      async (id, initPid) => {
        const env = { ...process.env };
        delete env.NODE_EXTRA_CA_CERTS;
        const execer = spawn(POLIS, ["--root", root, "exec", id, "sleep", "5"], { env, stdio: "ignore" });
        try {
          let shim = 0;
          await waitFor(() => {
            for (const p of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
              try {
                const stat = readFileSync(`/proc/${p}/stat`, "utf8");
                const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
                if (ppid === execer.pid && readFileSync(`/proc/${p}/comm`, "utf8").trim() === "polis-shim") shim = Number(p);
              } catch {
                // gone meanwhile
              }
            }
            // the shim is in the container's mount namespace once it has joined it
            return shim > 0 && nsInode(shim, "mnt") === nsInode(initPid, "mnt");
          }, 10_000);
          expectSealedCopy(shim);
        } finally {
          execer.kill("SIGKILL");
        }
      },
    );
  });
});
