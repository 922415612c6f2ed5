// polis on a pure cgroup v2 host, end to end through the CLI, on whatever host runs the tests.
// Each polis call runs in a private mount namespace where this host's cgroup2 hierarchy is
// mounted on /sys/fs/cgroup (hiding any v1 hierarchies there): polis detects a pure v2 layout and
// takes its v2 paths (cgroup.procs, cgroup.freeze, cgroup.kill, eBPF device programs, hugetlb).
// The hierarchy is the same one the host sees at its own cgroup2 mount, so the results are
// checked from outside there. Nothing is remounted on the host: the namespace dies with the call.
// Controllers the cgroup2 tree does not offer here (on a hybrid host: all but hugetlb) must be
// refused naming the field; on a real v2 host they are applied and read back.
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { hugePageSizes, lacking, layout, TEST_CGROUP_PARENT, v2Controllers } from "../helpers/host.js";
import { type Result, pidAlive, polisVia, tempRoot, uniqueId, waitFor } from "../helpers/polis.js";
import { busyboxBundle } from "../helpers/rootfs.js";

const uni = layout().unified;
const missing = !uni
  ? "no cgroup2 mount on this host"
  : lacking("pure cgroup v2 CLI suite", { files: ["/usr/bin/unshare"], packages: ["util-linux"] });
const root = tempRoot();
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** `polis --root <root> ...args` with the cgroup2 hierarchy as the only one on /sys/fs/cgroup. */
function polisV2(args: string[]): Result {
  // Unmount whatever is on /sys/fs/cgroup (tmpfs and v1 hierarchies, or cgroup2 itself), in this
  // namespace only, then mount the cgroup2 hierarchy alone.
  const script = 'umount -R /sys/fs/cgroup && mount -t cgroup2 cgroup2 /sys/fs/cgroup && exec "$0" "$@"';
  return polisVia(["unshare", "--mount", "--propagation", "private", "sh", "-c", script], root, args);
}
function ok(args: string[]): Result {
  const r = polisV2(args);
  if (r.code !== 0) throw new Error(`polis ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
  return r;
}
const state = (id: string) => JSON.parse(ok(["state", id]).stdout);
/** The container's cgroup as the host sees it, at its own cgroup2 mount. */
const hostDir = (cgPath: string) => join(uni!.mountpoint, cgPath);
const read = (dir: string, f: string) => readFileSync(join(dir, f), "utf8").trim();

describe.skipIf(!!missing)("polis on a pure cgroup v2 layout (this host's cgroup2 tree on /sys/fs/cgroup)", () => {
  it("create, start, pause, resume, kill and delete through cgroup2 alone", async () => {
    const id = uniqueId("v2life");
    const cgPath = `${TEST_CGROUP_PARENT}/${id}`;
    const bundle = busyboxBundle((c) => (c.linux.cgroupsPath = cgPath));
    try {
      ok(["create", "--bundle", bundle, id]);
      const pid = state(id).pid;
      const dir = hostDir(cgPath);
      expect(read(dir, "cgroup.procs").split("\n")).toContain(String(pid));
      // only the cgroup2 tree: no v1 hierarchy got a directory for the container
      for (const h of layout().v1) expect(existsSync(join(h.mountpoint, cgPath)), h.mountpoint).toBe(false);
      ok(["start", id]);
      await waitFor(() => readFileSync(`/proc/${pid}/cmdline`, "utf8").startsWith("sleep"));
      // exec joins the same cgroup2 cgroup (no cgroup namespace: the path shows as on the host;
      // the kernel still lists its v1 hierarchies, which a pure v2 polis never touches)
      expect(ok(["exec", id, "cat", "/proc/self/cgroup"]).stdout.split("\n")).toContain(`0::${cgPath}`);

      ok(["pause", id]);
      expect(read(dir, "cgroup.freeze")).toBe("1");
      expect(state(id).status).toBe("paused");
      ok(["resume", id]);
      expect(read(dir, "cgroup.freeze")).toBe("0");
      expect(state(id).status).toBe("running");

      ok(["kill", "--all", id, "KILL"]); // cgroup.kill
      await waitFor(() => !pidAlive(pid));
      expect(state(id)).toMatchObject({ status: "stopped", pid: 0 });
      ok(["delete", id]);
      expect(existsSync(dir)).toBe(false);
    } finally {
      polisV2(["delete", "--force", id]);
      rmSync(bundle, { recursive: true, force: true });
    }
  });

  it("device rules become an eBPF program: /dev/fuse is refused until a rule allows it", () => {
    const fuse = { destination: "/dev/fuse", type: "bind", source: "/dev/fuse", options: ["bind"] };
    const run = (allow: boolean) => {
      const id = uniqueId("v2dev");
      const bundle = busyboxBundle((c) => {
        c.process.args = ["sh", "-c", "head -c 0 /dev/fuse && echo opened"];
        c.mounts.push(fuse);
        if (allow) c.linux.resources.devices.push({ allow: true, type: "c", major: 10, minor: 229, access: "rw" });
      });
      try {
        return polisV2(["run", "--bundle", bundle, id]);
      } finally {
        polisV2(["delete", "--force", id]);
        rmSync(bundle, { recursive: true, force: true });
      }
    };
    const denied = run(false);
    expect(denied.stdout).not.toContain("opened");
    expect(denied.stderr).toContain("Operation not permitted");
    expect(run(true).stdout).toContain("opened");
  });

  it("applies what the cgroup2 tree offers and refuses the rest, naming the field", () => {
    const offered = v2Controllers();
    const id = uniqueId("v2res");
    const cgPath = `${TEST_CGROUP_PARENT}/${id}`;
    const limits: Record<string, unknown> = { pids: { limit: 20 } };
    if (offered.includes("hugetlb") && hugePageSizes().includes("2MB"))
      limits.hugepageLimits = [{ pageSize: "2MB", limit: 2 << 20 }];
    const bundle = busyboxBundle((c) => {
      c.linux.cgroupsPath = cgPath;
      c.linux.resources = { ...c.linux.resources, ...limits };
    });
    try {
      const r = polisV2(["create", "--bundle", bundle, id]);
      if (!offered.includes("pids")) {
        // a hybrid host: pids lives in v1, which this namespace does not see
        expect(r.code).toBe(1);
        expect(r.stderr).toContain("linux.resources.pids.limit: pids controller is not available in the cgroup2 tree");
        expect(existsSync(hostDir(cgPath))).toBe(false); // rolled back
        delete limits.pids;
        const again = busyboxBundle((c) => {
          c.linux.cgroupsPath = cgPath;
          c.linux.resources = { ...c.linux.resources, ...limits };
        });
        try {
          ok(["create", "--bundle", again, id]);
        } finally {
          rmSync(again, { recursive: true, force: true });
        }
      } else {
        expect(r.code, r.stderr).toBe(0);
        expect(read(hostDir(cgPath), "pids.max")).toBe("20");
      }
      if (limits.hugepageLimits) expect(read(hostDir(cgPath), "hugetlb.2MB.max")).toBe(String(2 << 20));
      ok(["delete", "--force", id]);
      expect(existsSync(hostDir(cgPath))).toBe(false);
    } finally {
      polisV2(["delete", "--force", id]);
      rmSync(bundle, { recursive: true, force: true });
    }
  });
});
