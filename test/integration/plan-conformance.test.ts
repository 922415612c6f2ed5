// What the init and join plans do where runc's behaviour is the reference (issue 8): each case
// was run against runc 1.1 on this host first, and is checked here from outside the container
// (its /proc entries, files it leaves in a bind-mounted host directory, the host's mountinfo).
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { POLIS, polis, polisOk, tempRoot, uniqueId } from "../helpers/polis.js";
import { busyboxBundle } from "../helpers/rootfs.js";

const root = tempRoot();
const scratch = mkdtempSync(join(tmpdir(), "polis-conf-"));
chmodSync(scratch, 0o755);
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(scratch, { recursive: true, force: true });
});

/** A host directory the container (any uid) can write to, bind-mounted at /out. */
function outDir(): string {
  const d = mkdtempSync(join(scratch, "out-"));
  chmodSync(d, 0o777);
  return d;
}

const sh = (cmd: string) => JSON.stringify(cmd);

describe("a config without a mount namespace (inherited, as the spec says)", () => {
  // The container then shares polis's mount namespace: to leave the host's untouched, polis runs
  // in a private one here, made by unshare, and the checks run in it too.
  function inPrivateMountNs(script: string): { code: number; out: string } {
    const env = { ...process.env };
    delete env.NODE_EXTRA_CA_CERTS;
    const r = spawnSync("unshare", ["--mount", "--propagation", "private", "sh", "-c", script], {
      encoding: "utf8",
      env,
      timeout: 60_000,
    });
    return { code: r.status ?? -1, out: r.stdout + r.stderr };
  }
  const noMountNs = (c: Record<string, any>) => {
    c.linux.namespaces = c.linux.namespaces.filter((n: { type: string }) => n.type !== "mount");
    delete c.linux.maskedPaths; // runc: "unable to restrict sys entries without a private MNT namespace"
    delete c.linux.readonlyPaths;
    c.root.readonly = false;
  };

  it("runs chroot'ed in the runtime's mount namespace; exec joins its root; delete leaves no mount", () => {
    const id = uniqueId("nomnt");
    const bundle = busyboxBundle(noMountNs);
    const p = `${sh(POLIS)} --root ${sh(root)}`;
    const inside = "test -x /bin/busybox && test ! -e /work && echo chrooted; readlink /proc/self/ns/mnt";
    const r = inPrivateMountNs(`
      echo host=$(readlink /proc/self/ns/mnt)
      ${p} run --detach --bundle ${sh(bundle)} ${id} || exit 10
      pid=$(${p} state ${id} | sed -n 's/.*"pid": *\\([0-9]*\\).*/\\1/p')
      echo init=$(readlink /proc/$pid/ns/mnt) root=$(readlink /proc/$pid/root)
      echo exec=$(${p} exec ${id} sh -c ${sh(inside)} | tr '\\n' ' ')
      echo mounted=$(grep -c " ${bundle}/rootfs/" /proc/self/mountinfo)
      ${p} delete --force ${id}
      echo left=$(grep -c " ${bundle}/rootfs/" /proc/self/mountinfo)
    `);
    rmSync(bundle, { recursive: true, force: true });
    expect(r.code, r.out).toBe(0);
    const host = /host=(\S+)/.exec(r.out)?.[1];
    expect(host).toMatch(/^mnt:\[\d+\]$/);
    expect(r.out).toContain(`init=${host} root=${bundle}/rootfs`);
    expect(r.out).toContain(`exec=chrooted ${host}`);
    expect(Number(/mounted=(\d+)/.exec(r.out)?.[1])).toBeGreaterThan(3); // proc, dev, dev/pts, sys…
    expect(r.out).toContain("left=0");
  });

  it("polis SIGKILLed half-way: delete --force detaches what the plan had mounted", () => {
    const id = uniqueId("nomnt-kill");
    const bundle = busyboxBundle((c) => {
      noMountNs(c);
      // runs once the mounts are made, and ends with polis (nothing outlives the test)
      c.hooks = {
        createRuntime: [{ path: "/bin/sh", args: ["sh", "-c", "while kill -0 $PPID 2>/dev/null; do sleep 0.1; done"] }],
      };
    });
    const p = `${sh(POLIS)} --root ${sh(root)}`;
    const r = inPrivateMountNs(`
      ${p} create --bundle ${sh(bundle)} ${id} & creator=$!
      for i in $(seq 100); do grep -q " ${bundle}/rootfs/proc " /proc/self/mountinfo && break; sleep 0.1; done
      echo mounted=$(grep -c " ${bundle}/rootfs/" /proc/self/mountinfo)
      kill -9 $creator; wait $creator
      ${p} delete --force ${id}; echo deleted=$?
      echo left=$(grep -c " ${bundle}/rootfs/" /proc/self/mountinfo)
    `);
    rmSync(bundle, { recursive: true, force: true });
    expect(Number(/mounted=(\d+)/.exec(r.out)?.[1]), r.out).toBeGreaterThan(3);
    expect(r.out).toContain("deleted=0");
    expect(r.out).toContain("left=0");
  });

  it("refuses what would change the runtime's own mounts, naming the field", () => {
    for (const [edit, message] of [
      [
        (c: Record<string, any>) => (c.linux.maskedPaths = ["/proc/kcore"]),
        "linux.maskedPaths: unable to restrict sys entries without a private MNT namespace",
      ],
      [(c: Record<string, any>) => (c.root.readonly = true), "root.readonly: "],
      [(c: Record<string, any>) => (c.linux.rootfsPropagation = "rslave"), "linux.rootfsPropagation: "],
    ] as const) {
      const id = uniqueId("nomnt-bad");
      const bundle = busyboxBundle((c) => {
        noMountNs(c);
        edit(c);
      });
      const r = polis(root, ["create", "--bundle", bundle, id]);
      rmSync(bundle, { recursive: true, force: true });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(message);
      expect(polis(root, ["state", id]).code).not.toBe(0); // nothing left
    }
  });
});

describe("startContainer hooks", () => {
  it("run as the container's process, after its seccomp filter is loaded (as runc's init runs them)", () => {
    const out = outDir();
    const id = uniqueId("starthook");
    const bundle = busyboxBundle((c) => {
      c.process.args = ["true"];
      c.process.user = { uid: 1000, gid: 1000 };
      c.mounts.push({ destination: "/out", type: "bind", source: out, options: ["rbind"] });
      c.linux.seccomp = {
        defaultAction: "SCMP_ACT_ALLOW",
        syscalls: [{ names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO" }],
      };
      const probe =
        'id -u > /out/uid; mkdir /out/made 2>/dev/null; echo $? > /out/mkdir; grep -E "^(Seccomp|NoNewPrivs|CapEff):" /proc/self/status > /out/status';
      c.hooks = { startContainer: [{ path: "/bin/sh", args: ["sh", "-c", probe] }] };
    });
    try {
      polisOk(root, ["run", "--bundle", bundle, id]);
      expect(readFileSync(join(out, "uid"), "utf8").trim()).toBe("1000");
      expect(readFileSync(join(out, "mkdir"), "utf8").trim()).toBe("1"); // EPERM from the filter
      const status = readFileSync(join(out, "status"), "utf8");
      expect(status).toMatch(/^Seccomp:\s+2$/m);
      expect(status).toMatch(/^NoNewPrivs:\s+1$/m);
      expect(status).toMatch(/^CapEff:\s+0+$/m);
    } finally {
      polis(root, ["delete", "--force", id]);
      rmSync(bundle, { recursive: true, force: true });
    }
  });
});

describe("a terminal for a process with a non-root user", () => {
  const ownerProbe = 'stat -c "owner=%u:%g" $(tty)';

  it("is owned by its uid, the group left to devpts's tty group (run and exec, as runc)", async () => {
    const id = uniqueId("ttyown");
    const bundle = busyboxBundle((c) => {
      c.process.terminal = true;
      c.process.user = { uid: 1000, gid: 1001 };
      c.process.args = ["sh", "-c", ownerProbe];
    });
    try {
      const run = polis(root, ["run", "--bundle", bundle, id]);
      expect(run.stdout + run.stderr).toContain("owner=1000:5");
    } finally {
      polis(root, ["delete", "--force", id]);
      rmSync(bundle, { recursive: true, force: true });
    }
    const { withRunning } = await import("../helpers/containers.js");
    await withRunning(
      root,
      () => {},
      (cid) => {
        const exec = polis(root, ["exec", "-t", "--user", "1000:1001", cid, "sh", "-c", ownerProbe]);
        expect(exec.stdout + exec.stderr).toContain("owner=1000:5");
        const asRoot = polis(root, ["exec", "-t", cid, "sh", "-c", ownerProbe]);
        expect(asRoot.stdout + asRoot.stderr).toContain("owner=0:5");
      },
    );
  });
});

describe("a tmpfs mount without mode=", () => {
  it("takes the mode of the directory it covers; a directory it makes keeps tmpfs's 1777; mode= wins (runc)", () => {
    const id = uniqueId("tmpfsmode");
    const bundle = busyboxBundle((c) => {
      c.root.readonly = false;
      c.process.args = ["sh", "-c", 'stat -c "%a %n" /data /newdir /withmode /ro'];
      c.mounts.push(
        { destination: "/data", type: "tmpfs", source: "tmpfs", options: ["nosuid", "size=1m"] },
        { destination: "/newdir", type: "tmpfs", source: "tmpfs", options: ["nosuid"] },
        { destination: "/withmode", type: "tmpfs", source: "tmpfs", options: ["mode=700"] },
        { destination: "/ro", type: "tmpfs", source: "tmpfs", options: ["ro"] },
      );
    });
    mkdirSync(join(bundle, "rootfs", "data"));
    chmodSync(join(bundle, "rootfs", "data"), 0o710);
    mkdirSync(join(bundle, "rootfs", "withmode"));
    mkdirSync(join(bundle, "rootfs", "ro"));
    chmodSync(join(bundle, "rootfs", "ro"), 0o750);
    try {
      const r = polisOk(root, ["run", "--bundle", bundle, id]);
      expect(r.stdout.trim().split("\n")).toEqual(["710 /data", "1777 /newdir", "700 /withmode", "750 /ro"]);
    } finally {
      polis(root, ["delete", "--force", id]);
      rmSync(bundle, { recursive: true, force: true });
    }
  });
});

const v1 = (ctrl: string) => existsSync(`/sys/fs/cgroup/${ctrl}/cgroup.procs`);
if (!v1("memory") || !v1("pids")) console.log("exec --cgroup: skipped: needs the cgroup v1 memory and pids hierarchies");

describe("exec --cgroup given several times", () => {
  it.skipIf(!v1("memory") || !v1("pids"))(
    "joins every sub-cgroup it names, one per controller (only the last one, before)",
    async () => {
      const { withRunning } = await import("../helpers/containers.js");
      await withRunning(
        root,
        () => {},
        async (id, initPid) => {
          // the container's memory and pids cgroups as the host sees them (v1 here; skip otherwise)
          const dirOf = (ctrl: string) => {
            const line = readFileSync(`/proc/${initPid}/cgroup`, "utf8")
              .split("\n")
              .find((l) => l.split(":")[1] === ctrl);
            return line && join("/sys/fs/cgroup", ctrl, line.split(":")[2]);
          };
          const mem = dirOf("memory");
          const pids = dirOf("pids");
          if (!mem || !pids) throw new Error("the container has no memory or pids cgroup");
          mkdirSync(join(mem, "m"));
          mkdirSync(join(pids, "p"));
          try {
            const r = polis(root, ["exec", "--cgroup", "memory:m", "--cgroup", "pids:p", id, "cat", "/proc/self/cgroup"]);
            expect(r.code, r.stderr).toBe(0);
            expect(r.stdout).toMatch(new RegExp(`:memory:/(.*/)?${id}/m\n`));
            expect(r.stdout).toMatch(new RegExp(`:pids:/(.*/)?${id}/p\n`));
            const twice = polis(root, ["exec", "--cgroup", "memory:m", "--cgroup", "memory:m", id, "true"]);
            expect(twice.code).toBe(255);
            expect(twice.stderr).toContain("controller memory specified multiple times");
          } finally {
            for (const d of [join(mem, "m"), join(pids, "p")]) {
              for (let i = 0; i < 100; i++) {
                try {
                  rmdirSync(d);
                  break;
                } catch {
                  await new Promise((r) => setTimeout(r, 20));
                }
              }
            }
          }
        },
      );
    },
  );
});

describe("bind mounts of a container in a user namespace", () => {
  it("mount sources its mapped root cannot reach (opened by the runtime before the namespaces, as runc)", async () => {
    const secret = mkdtempSync(join(scratch, "secret-")); // 0700, root's: uid 200000 cannot enter it
    mkdirSync(join(secret, "data", "sub"), { recursive: true });
    writeFileSync(join(secret, "data", "sub", "hello"), "from the host\n");
    writeFileSync(join(secret, "file.txt"), "a file\n");
    const id = uniqueId("usernsbind");
    const bundle = busyboxBundle((c) => {
      c.process.args = ["sh", "-c", "cat /data/sub/hello /etc/extra; touch /data/x 2>/dev/null || echo read-only; id -u"];
      c.root.readonly = false;
      c.linux.namespaces.push({ type: "user" });
      c.linux.uidMappings = [{ containerID: 0, hostID: 200000, size: 65536 }];
      c.linux.gidMappings = [{ containerID: 0, hostID: 200000, size: 65536 }];
      c.mounts = c.mounts.filter((m: { type: string }) => m.type !== "cgroup" && m.type !== "sysfs");
      c.mounts.push(
        { destination: "/data", type: "bind", source: join(secret, "data"), options: ["rbind", "ro"] },
        { destination: "/etc/extra", type: "bind", source: join(secret, "file.txt"), options: ["bind"] },
      );
    });
    // the mount points exist: the rootfs is root's, and the mapped root may not create them
    mkdirSync(join(bundle, "rootfs", "data"));
    writeFileSync(join(bundle, "rootfs", "etc", "extra"), "");
    const r = polis(root, ["run", "--bundle", bundle, id]);
    polis(root, ["delete", "--force", id]);
    rmSync(bundle, { recursive: true, force: true });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe("from the host\na file\nread-only\n0\n");
  });
});
