// root, mounts, rootfsPropagation, /dev, maskedPaths, readonlyPaths: checked through the
// container's own mountinfo and with busybox inside.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runScript, withRunning } from "../helpers/containers.js";
import { tempRoot } from "../helpers/polis.js";
import { hierarchyMounts } from "../helpers/host.js";

const root = tempRoot();
const host = mkdtempSync(join(tmpdir(), "polis-mnt-"));
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(host, { recursive: true, force: true });
});

/** The mountinfo line of `dest` as the container sees it: [mount options, optional fields, fstype, super options]. */
function mountOf(pid: number, dest: string): { opts: string[]; optional: string; fstype: string; superOpts: string[] } {
  const line = readFileSync(`/proc/${pid}/mountinfo`, "utf8")
    .split("\n")
    .filter((l) => l.split(" ")[4] === dest)
    .pop();
  if (!line) throw new Error(`${dest} is not mounted`);
  const [left, right] = line.split(" - ");
  const f = left.split(" ");
  const r = right.split(" ");
  return { opts: f[5].split(","), optional: f.slice(6).join(" "), fstype: r[0], superOpts: (r[2] ?? "").split(",") };
}

describe("root", () => {
  it("root.readonly makes / read-only", () => {
    const r = runScript(root, "touch /x 2>&1; echo rc=$?", (c) => (c.root.readonly = true));
    expect(r.stdout).toContain("Read-only file system");
    expect(r.stdout).toContain("rc=1");
  });

  it("--no-pivot runs the container with MS_MOVE + chroot", async () => {
    // no-pivot is a CLI flag: exercised through run --no-pivot.
    const { polis, uniqueId } = await import("../helpers/polis.js");
    const { busyboxBundle } = await import("../helpers/rootfs.js");
    const id = uniqueId("nopivot");
    const bundle = busyboxBundle((c) => (c.process.args = ["sh", "-c", "ls /bin/busybox && cat /proc/self/mountinfo | head -1"]));
    const r = polis(root, ["run", "--no-pivot", "--bundle", bundle, id]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("/bin/busybox");
    rmSync(bundle, { recursive: true, force: true });
  });
});

describe("mounts", () => {
  it("mounts tmpfs, bind, proc, sysfs, devpts, mqueue and cgroup with their options", async () => {
    mkdirSync(join(host, "data"), { recursive: true });
    writeFileSync(join(host, "data", "hello"), "from the host\n");
    await withRunning(
      root,
      (c) => {
        c.mounts.push(
          {
            destination: "/scratch",
            type: "tmpfs",
            source: "tmpfs",
            options: ["nosuid", "nodev", "noexec", "mode=755", "size=1m"],
          },
          { destination: "/data", type: "bind", source: join(host, "data"), options: ["rbind", "ro", "nosuid"] },
          { destination: "/data-rw", type: "none", source: join(host, "data"), options: ["bind"] },
          { destination: "/etc/hostfile", type: "bind", source: join(host, "data", "hello"), options: ["bind", "ro"] },
        );
      },
      (_id, pid) => {
        const scratch = mountOf(pid, "/scratch");
        expect(scratch.fstype).toBe("tmpfs");
        expect(scratch.opts).toEqual(expect.arrayContaining(["rw", "nosuid", "nodev", "noexec"]));
        expect(scratch.superOpts).toEqual(expect.arrayContaining(["size=1024k", "mode=755"]));
        const data = mountOf(pid, "/data");
        expect(data.opts).toEqual(expect.arrayContaining(["ro", "nosuid"]));
        expect(mountOf(pid, "/data-rw").opts).toContain("rw");
        expect(mountOf(pid, "/etc/hostfile").opts).toContain("ro");
        expect(readFileSync(`/proc/${pid}/root/data/hello`, "utf8")).toBe("from the host\n");
        expect(mountOf(pid, "/proc").fstype).toBe("proc");
        expect(mountOf(pid, "/sys").fstype).toBe("sysfs");
        expect(mountOf(pid, "/sys").opts).toContain("ro");
        expect(mountOf(pid, "/dev/pts").fstype).toBe("devpts");
        expect(mountOf(pid, "/dev/mqueue").fstype).toBe("mqueue");
        expect(mountOf(pid, "/dev/shm").superOpts).toEqual(expect.arrayContaining(["size=65536k"]));
        expect(mountOf(pid, "/dev").fstype).toBe("tmpfs");
        // runc's default config mounts the cgroup hierarchies read-only at /sys/fs/cgroup.
        expect(readFileSync(`/proc/${pid}/mountinfo`, "utf8")).toMatch(/ \/sys\/fs\/cgroup\S* /);
      },
    );
  });

  it("applies propagation and recursive attributes", async () => {
    await withRunning(
      root,
      (c) => {
        c.mounts.push(
          { destination: "/shared", type: "tmpfs", source: "tmpfs", options: ["shared"] },
          { destination: "/private", type: "tmpfs", source: "tmpfs", options: ["private"] },
          { destination: "/rro", type: "bind", source: "/sys/fs/cgroup", options: ["rbind", "rro", "rnosuid"] },
        );
        c.linux.rootfsPropagation = "shared";
      },
      (_id, pid) => {
        expect(mountOf(pid, "/shared").optional).toMatch(/shared:\d+/);
        expect(mountOf(pid, "/private").optional).not.toMatch(/shared|master/);
        // rro applies to every submount of the recursive bind, not just the top: any cgroup
        // hierarchy mounted below /sys/fs/cgroup (a pure v2 host has none: it is the top).
        for (const m of hierarchyMounts().filter((p) => p.startsWith("/sys/fs/cgroup/"))) {
          const sub = mountOf(pid, `/rro/${m.slice("/sys/fs/cgroup/".length)}`);
          expect(sub.opts, m).toEqual(expect.arrayContaining(["ro", "nosuid"]));
        }
        expect(mountOf(pid, "/rro").opts).toEqual(expect.arrayContaining(["ro", "nosuid"]));
        expect(mountOf(pid, "/").optional).toMatch(/shared:\d+/);
      },
    );
  });

  it("keeps a mount onto a symlink that points outside the rootfs inside the rootfs", async () => {
    const { busyboxBundle } = await import("../helpers/rootfs.js");
    const { polis, uniqueId } = await import("../helpers/polis.js");
    const { symlinkSync, existsSync } = await import("node:fs");
    const outside = mkdtempSync(join(tmpdir(), "polis-outside-"));
    const id = uniqueId("symlink");
    const bundle = busyboxBundle((c) => {
      c.process.args = ["sh", "-c", `grep -c " ${outside}/inner tmpfs " /proc/mounts; ls /escape`];
      c.mounts.push({ destination: "/escape/inner", type: "tmpfs", source: "tmpfs", options: [] });
    });
    symlinkSync(outside, join(bundle, "rootfs", "escape"));
    const r = polis(root, ["run", "--bundle", bundle, id]);
    // The host directory the symlink names must stay untouched, whatever polis decides.
    expect(existsSync(join(outside, "inner"))).toBe(false);
    expect(readFileSync("/proc/self/mountinfo", "utf8")).not.toContain(outside);
    // As runc (securejoin): the symlink is resolved inside the rootfs, so the tmpfs lands on
    // <rootfs><outside>/inner, which the container sees through its /escape symlink.
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split("\n")).toEqual(["1", "inner", ""]);
    rmSync(outside, { recursive: true, force: true });
    rmSync(bundle, { recursive: true, force: true });
  });
});

describe("/dev", () => {
  it("creates the default devices, symlinks, /dev/pts with ptmx and linux.devices", async () => {
    await withRunning(
      root,
      (c) => {
        c.linux.devices = [{ path: "/dev/polis-null", type: "c", major: 1, minor: 3, fileMode: 0o600, uid: 0, gid: 0 }];
      },
      (_id, pid) => {
        const r = devicesOf(pid);
        expect(r).toContain("null c 1 3");
        expect(r).toContain("zero c 1 5");
        expect(r).toContain("full c 1 7");
        expect(r).toContain("random c 1 8");
        expect(r).toContain("urandom c 1 9");
        expect(r).toContain("tty c 5 0");
        expect(r).toContain("polis-null c 1 3 600");
      },
    );
    const s = runScript(
      root,
      "for l in ptmx fd stdin stdout stderr; do readlink /dev/$l; done; ls -d /dev/pts /dev/shm /dev/mqueue",
    );
    expect(s.stdout.split("\n").slice(0, 5)).toEqual([
      "pts/ptmx",
      "/proc/self/fd",
      "/proc/self/fd/0",
      "/proc/self/fd/1",
      "/proc/self/fd/2",
    ]);
    expect(s.stdout).toContain("/dev/pts");
  });
});

/** `name type major minor mode` for each device node in the container's /dev, read from the host. */
function devicesOf(pid: number): string {
  const dir = `/proc/${pid}/root/dev`;
  return readdirSync(dir)
    .map((name) => {
      const st = statSync(join(dir, name), { throwIfNoEntry: false });
      if (!st?.isCharacterDevice()) return "";
      const major = Math.floor(st.rdev / 256);
      const minor = st.rdev % 256;
      return `${name} c ${major} ${minor} ${(st.mode & 0o777).toString(8)}`;
    })
    .join("\n");
}

describe("maskedPaths and readonlyPaths", () => {
  it("masks files and directories and makes paths read-only", () => {
    const r = runScript(
      root,
      "wc -c < /proc/version; ls /proc/acpi | wc -l; echo 1 > /proc/sys/kernel/ns_last_pid 2>&1; echo rc=$?; mount | grep ' /proc/sys '",
      (c) => {
        c.linux.maskedPaths = ["/proc/version", "/proc/acpi"];
        c.linux.readonlyPaths = ["/proc/sys"];
      },
    );
    const lines = r.stdout.split("\n");
    expect(lines[0].trim()).toBe("0");
    expect(lines[1].trim()).toBe("0");
    expect(r.stdout).toContain("rc=1");
    expect(r.stdout).toMatch(/\/proc\/sys type proc \(ro,/);
  });
});
