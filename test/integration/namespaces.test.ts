// linux.namespaces, uid/gid mappings, timeOffsets: each checked from outside (/proc/<pid>/ns,
// uid_map) or with the rootfs's busybox inside.
import { readFileSync, rmSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { runScript, withRunning } from "../helpers/containers.js";
import { nsInode, tempRoot, uniqueId } from "../helpers/polis.js";
import { layout, TEST_CGROUP_PARENT } from "../helpers/host.js";

const root = tempRoot();
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("linux.namespaces", () => {
  it("creates every requested namespace and only those", async () => {
    await withRunning(
      root,
      (c) => {
        c.linux.namespaces = ["pid", "network", "ipc", "uts", "mount", "cgroup"].map((type) => ({ type }));
      },
      (_id, pid) => {
        for (const ns of ["pid", "net", "ipc", "uts", "mnt", "cgroup"])
          expect(nsInode(pid, ns), ns).not.toBe(nsInode("self", ns));
        for (const ns of ["user", "time"]) expect(nsInode(pid, ns), ns).toBe(nsInode("self", ns));
      },
    );
    await withRunning(
      root,
      (c) => {
        c.linux.namespaces = [{ type: "mount" }, { type: "pid" }];
      },
      (_id, pid) => {
        expect(nsInode(pid, "net")).toBe(nsInode("self", "net"));
        expect(nsInode(pid, "uts")).toBe(nsInode("self", "uts"));
      },
    );
  });

  it("makes the init pid 1 of its pid namespace", () => {
    const r = runScript(root, "echo $$; ps -o pid,comm | head -3");
    expect(r.code).toBe(0);
    expect(r.stdout.split("\n")[0]).toBe("1");
  });

  it("joins an existing namespace given by path", async () => {
    await withRunning(
      root,
      () => {},
      async (_a, pidA) => {
        await withRunning(
          root,
          (c) => {
            c.linux.namespaces = c.linux.namespaces.map((n: { type: string }) =>
              n.type === "network" || n.type === "uts"
                ? { type: n.type, path: `/proc/${pidA}/ns/${n.type === "network" ? "net" : "uts"}` }
                : n,
            );
            delete c.hostname;
          },
          (_b, pidB) => {
            expect(nsInode(pidB, "net")).toBe(nsInode(pidA, "net"));
            expect(nsInode(pidB, "uts")).toBe(nsInode(pidA, "uts"));
            expect(nsInode(pidB, "ipc")).not.toBe(nsInode(pidA, "ipc"));
          },
        );
      },
    );
  });

  it("maps ids in a new user namespace", async () => {
    await withRunning(
      root,
      (c) => {
        c.linux.namespaces.push({ type: "user" });
        c.linux.uidMappings = [{ containerID: 0, hostID: 200000, size: 65536 }];
        c.linux.gidMappings = [{ containerID: 0, hostID: 200000, size: 65536 }];
        // A v1 cgroup mount and sysfs need privileges a user namespace does not grant over the host's.
        c.mounts = c.mounts.filter((m: { type: string }) => m.type !== "cgroup" && m.type !== "sysfs");
      },
      (_id, pid) => {
        expect(nsInode(pid, "user")).not.toBe(nsInode("self", "user"));
        expect(readFileSync(`/proc/${pid}/uid_map`, "utf8").trim().split(/\s+/)).toEqual(["0", "200000", "65536"]);
        expect(readFileSync(`/proc/${pid}/gid_map`, "utf8").trim().split(/\s+/)).toEqual(["0", "200000", "65536"]);
        // Seen from the host, the container's root is the mapped id.
        expect(readFileSync(`/proc/${pid}/status`, "utf8")).toMatch(/^Uid:\s+200000\s+200000/m);
      },
    );
  });

  it("applies timeOffsets in a new time namespace", () => {
    const r = runScript(root, "cut -d' ' -f1 /proc/uptime", (c) => {
      c.linux.namespaces.push({ type: "time" });
      c.linux.timeOffsets = { boottime: { secs: 864000, nanosecs: 0 }, monotonic: { secs: 864000 } };
    });
    expect(r.code, r.stderr).toBe(0);
    const hostUptime = Number(readFileSync("/proc/uptime", "utf8").split(" ")[0]);
    expect(Number(r.stdout.trim())).toBeGreaterThan(hostUptime + 864000 - 5);
  });

  it("roots the cgroup namespace at the container's cgroup", () => {
    const r = runScript(root, "cat /proc/self/cgroup", (c) => {
      c.linux.namespaces.push({ type: "cgroup" });
      c.linux.cgroupsPath = `${TEST_CGROUP_PARENT}/${uniqueId("cgns")}`;
    });
    expect(r.code, r.stderr).toBe(0);
    // Every hierarchy the container is in shows its own cgroup as the root: "/" (v1 lines and
    // the cgroup2 "0::" line alike), whatever the host's layout.
    const lines = r.stdout.trim().split("\n");
    expect(lines.length).toBe(layout().v1.length + (layout().unified ? 1 : 0));
    for (const l of lines) expect(l, r.stdout).toMatch(/^\d+:[^:]*:\/$/);
  });
});
