// Property: before PIVOT_ROOT / MOVE_ROOT every op that creates or mounts something at a path in
// the rootfs names the rootfs as its scope (the shim resolves the path with RESOLVE_IN_ROOT), so a
// symlink in a hostile rootfs can never send a device node, link, directory or mount to the host.
// The plans come from many generated configs; the only unscoped paths allowed are the ones polis
// itself chose (its state files, cgroupfs, "/" and the rootfs bound onto itself).
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { buildInitPlan } from "../../src/container/plan-init.js";
import { OpCode, type Op } from "../../src/linux/plan.js";
import type { Mount, Spec } from "../../src/spec/types.js";
import { seeded } from "../helpers/random.js";

const R = "/b/rootfs";
const PARENT = "/b";
const fixture = (name: string): Spec => JSON.parse(readFileSync(new URL(`../fixtures/${name}`, import.meta.url), "utf8"));

const EXTRA_MOUNTS: Mount[] = [
  { destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup", options: ["nosuid", "noexec", "nodev", "relatime", "ro"] },
  { destination: "/data", type: "bind", source: "/srv/data", options: ["rbind", "ro", "rprivate"] },
  { destination: "/etc/hosts", type: "bind", source: "hosts", options: ["bind"] },
  { destination: "/run", type: "tmpfs", source: "tmpfs", options: ["ro", "mode=755"] },
  { destination: "/mnt/x/../y", type: "tmpfs", source: "tmpfs", options: ["rnosuid", "rro"] },
  { destination: "/dev", type: "bind", source: "/dev", options: ["rbind"] },
  { destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "shared"] },
];

function generate(r: () => number): { spec: Spec; noPivot: boolean; cgroupPaths: Record<string, string> } {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const spec = pick([fixture("runc-default-config.json"), fixture("busybox-config.json")]);
  const linux = (spec.linux ??= {});
  if (r() < 0.3) spec.mounts = (spec.mounts ?? []).filter((m) => m.destination !== "/dev"); // /dev from the rootfs
  for (const m of EXTRA_MOUNTS) if (r() < 0.35) (spec.mounts ??= []).push(structuredClone(m));
  const ns = (linux.namespaces ?? []).filter((n) => n.type !== "user" && n.type !== "cgroup");
  if (r() < 0.4) {
    ns.push({ type: "user" });
    linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    linux.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
  }
  if (r() < 0.5) ns.push({ type: "cgroup" });
  linux.namespaces = ns;
  if (r() < 0.5) {
    linux.devices = [
      { path: "/dev/fuse", type: "c", major: 10, minor: 229, fileMode: 0o666 },
      { path: "/dev/net/tun", type: "c", major: 10, minor: 200 },
      { path: "/dev/deep/dir/sda", type: "b", major: 8, minor: 0 },
      { path: "/dev/null", type: "c", major: 1, minor: 3 },
    ].filter(() => r() < 0.7);
  }
  if (r() < 0.3) linux.rootfsPropagation = pick(["shared", "rslave", "private", "rshared"]);
  if (r() < 0.3) spec.root = { ...spec.root!, readonly: !spec.root?.readonly };
  if (r() < 0.15) {
    // no mount namespace: every op then runs in the caller's own mount namespace (what would
    // change the caller's mounts is refused, so the config leaves it out)
    linux.namespaces = linux.namespaces.filter((n) => n.type !== "mount");
    delete linux.maskedPaths;
    delete linux.readonlyPaths;
    delete linux.rootfsPropagation;
    spec.root = { ...spec.root!, readonly: false };
  }
  const noPivot = r() < 0.3 && !(linux.rootfsPropagation ?? "").includes("private");
  // Recorded cgroup paths of v1, co-mounted and hybrid hosts: generated inputs, not this host's.
  const cgroupPaths = pick<Record<string, string>>([
    { pids: "/sys/fs/cgroup/pids/c1", unified: "/sys/fs/cgroup/unified/c1" },
    {
      cpu: "/sys/fs/cgroup/cpu,cpuacct/c1",
      cpuacct: "/sys/fs/cgroup/cpu,cpuacct/c1",
      memory: "/sys/fs/cgroup/memory/c1",
      "name=systemd": "/sys/fs/cgroup/systemd/c1",
    },
    { unified: "/sys/fs/cgroup/c1" },
  ]);
  return { spec, noPivot, cgroupPaths };
}

/** Ops before CLONE that take host paths polis chose itself (state dir, cgroupfs, sockets, ns files),
 *  or the config's bind sources (OPEN_TREE: host paths by definition, like MOUNT's source). */
const HOST_SIDE = new Set([
  OpCode.CGROUP_JOIN,
  OpCode.PARENT_CGROUPS,
  OpCode.CONSOLE_SOCKET,
  OpCode.SECCOMP_LISTENER,
  OpCode.SETNS,
  OpCode.TIMENS,
  OpCode.MKFIFO,
  OpCode.FIFO_OPEN,
  OpCode.CONSOLE_PAIR,
  OpCode.OPEN_TREE,
]);
/** Ops without a path argument in the rootfs. */
const PATHLESS = new Set([OpCode.CLONE, OpCode.SETSID, OpCode.BECOME_ROOT, OpCode.LOOPBACK_UP, OpCode.NEW_KEYRING, OpCode.PAUSE]);
/** MASK_SOURCE opens the host's /dev/null on purpose (never the rootfs's), and verifies it. */
const HOST_NULL = OpCode.MASK_SOURCE;
/** Where each rootfs-path op keeps its scope argument, and its path argument. */
const SCOPED: Partial<Record<OpCode, { path: number; scope: number }>> = {
  [OpCode.MOUNT]: { path: 1, scope: 5 },
  [OpCode.MKDIRS]: { path: 0, scope: 1 },
  [OpCode.MOUNT_SETATTR]: { path: 0, scope: 1 },
  [OpCode.MKNOD]: { path: 0, scope: 7 },
  [OpCode.SYMLINK]: { path: 1, scope: 2 },
  [OpCode.MOUNT_KEEP_MODE]: { path: 1, scope: 5 },
  [OpCode.MOVE_MOUNT]: { path: 1, scope: 2 },
};

/** Why op (before the root switch) is unsafe, or undefined when it is confined. */
function unconfined(op: Op): string | undefined {
  const name = OpCode[op.code];
  if (HOST_SIDE.has(op.code) || PATHLESS.has(op.code)) return undefined;
  if (op.code === HOST_NULL)
    return op.args[0] === "/dev/null" ? undefined : `MASK_SOURCE ${String(op.args[0])}: not the host's /dev/null`;
  const where = SCOPED[op.code];
  if (!where) return `${name} (${op.what}) is not known to be confined`;
  const path = String(op.args[where.path]);
  const scope = String(op.args[where.scope]);
  if (scope === R) {
    // a container path: a host path here would be looked up as R + R/…
    return path.startsWith(`${R}/`) ? `${name} ${path}: a host path given as a container path` : undefined;
  }
  // Unscoped: only polis's own mount(2) calls on "/" and on the rootfs itself (propagation, the
  // bind that makes the rootfs a mount point) and on the mount holding it.
  if (op.code === OpCode.MOUNT && scope === "" && [R, "/", PARENT].includes(path)) return undefined;
  return `${name} ${path} (${op.what}) takes the unconfined host path "${path}" (scope "${scope}")`;
}

describe("plans never take an unconfined host path before the root switch", () => {
  it("holds for 300 generated configs", () => {
    const r = seeded(8);
    let checked = 0;
    let sharedMountPlans = 0;
    for (let i = 0; i < 300; i++) {
      const { spec, noPivot, cgroupPaths } = generate(r);
      const plan = buildInitPlan({
        spec,
        rootfs: R,
        fifoPath: "/run/polis/c1/exec.fifo",
        noPivot,
        cgroupProcs: Object.values(cgroupPaths).map((d) => `${d}/cgroup.procs`),
        cgroupPaths,
        mode: i % 2 ? "wait" : "detach",
        hostHasKcore: true,
        bundle: PARENT,
        sourceKind: (p) => (p === "/srv/data" || p === "/dev" ? "dir" : "file"),
        rootfsParentMount: PARENT,
      });
      const end = plan.ops.findIndex(
        (o) => o.code === OpCode.PIVOT_ROOT || o.code === OpCode.MOVE_ROOT || o.code === OpCode.CHROOT,
      );
      expect(end, "the plan switches root").toBeGreaterThan(0);
      const problems = plan.ops.slice(0, end).map(unconfined).filter(Boolean);
      expect(problems, `config #${i}: ${JSON.stringify({ mounts: spec.mounts, linux: spec.linux })}`).toEqual([]);
      if (plan.ops[end].code === OpCode.CHROOT) sharedMountPlans++;
      checked += plan.ops.slice(0, end).filter((o) => o.code === OpCode.MKNOD || o.code === OpCode.SYMLINK).length;
    }
    expect(checked).toBeGreaterThan(1000); // the generator really produced devices and links
    expect(sharedMountPlans).toBeGreaterThan(20); // …and configs without a mount namespace
  });
});
