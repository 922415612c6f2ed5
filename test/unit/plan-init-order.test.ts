// The init plan's ordering rules, checked over many generated configs instead of one golden copy:
// each rule is why the order is what it is (runc's nsexec, prepareRootfs, finalizeNamespace), so a
// change that breaks one fails here with the rule's name and the config that broke it. One small
// golden at the end pins the plainest plan. (The rule "every path op before the root switch is
// confined to the rootfs" lives in plan-confinement.test.ts.)
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { buildInitPlan, type InitPlanInput } from "../../src/container/plan-init.js";
import { buildJoinPlan, type JoinPlanInput } from "../../src/container/plan-join.js";
import { mountsBelow } from "../../src/container/shared-mounts.js";
import { JOIN_ORDER } from "../../src/linux/namespaces.js";
import { OpCode, type Op, type Plan } from "../../src/linux/plan.js";
import { MS } from "../../src/spec/names.js";
import type { Mount, NamespaceType, Spec } from "../../src/spec/types.js";
import { seeded } from "../helpers/random.js";

const R = "/b/rootfs";
const FIFO = "/run/polis/c1/exec.fifo";
const fixture = (): Spec => JSON.parse(readFileSync(new URL("../fixtures/runc-default-config.json", import.meta.url), "utf8"));

const seed = Number(process.env.POLIS_PROPERTY_SEED ?? 20261206);

const MOUNT_POOL: Mount[] = [
  { destination: "/run", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev"] },
  { destination: "/ro-tmp", type: "tmpfs", source: "tmpfs", options: ["ro", "mode=755"] },
  { destination: "/data", type: "bind", source: "/srv/data", options: ["rbind", "ro"] },
  { destination: "/etc/resolv.conf", type: "bind", source: "resolv.conf", options: ["bind"] },
  { destination: "/shared", type: "none", source: "/srv/shared", options: ["rbind", "rshared"] },
  { destination: "/attrs", type: "bind", source: "/srv/attrs", options: ["rbind", "rro", "rnosuid"] },
  { destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup", options: ["nosuid", "noexec", "nodev", "relatime", "ro"] },
];

/** A config and plan input drawn from the ways real configs differ. */
function generate(rand: () => number): { label: string; input: InitPlanInput } {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const chance = (p: number) => rand() < p;
  const spec = fixture();
  const linux = spec.linux!;
  const proc = spec.process!;
  const label: string[] = [];
  const note = (s: string) => label.push(s);

  const ns = new Set(["pid", "network", "ipc", "uts", "mount"].filter(() => chance(0.8)));
  if (chance(0.85)) ns.add("mount");
  if (chance(0.3)) ns.add("user");
  if (chance(0.2)) ns.add("cgroup");
  if (chance(0.15)) ns.add("time");
  linux.namespaces = [...ns].map((type) => ({ type }) as never);
  if (chance(0.2) && ns.has("network")) {
    linux.namespaces = linux.namespaces!.map((n) => (n.type === "network" ? { type: "network", path: "/run/netns/x" } : n));
    note("joined network");
  }
  if (chance(0.1) && ns.has("mount")) {
    linux.namespaces = linux.namespaces!.map((n) => (n.type === "mount" ? { type: "mount", path: "/proc/77/ns/mnt" } : n));
    note("joined mount");
  }
  if (ns.has("user")) {
    linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    linux.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
  }
  if (ns.has("time") && chance(0.5)) linux.timeOffsets = { monotonic: { secs: 10 } };
  note(`ns=${[...ns].join(",")}`);

  spec.mounts = spec.mounts!.filter(() => chance(0.85));
  for (const m of MOUNT_POOL) if (chance(0.35)) spec.mounts.push(structuredClone(m));
  note(`mounts=${spec.mounts.map((m) => m.destination).join(",")}`);

  const privateMounts = ns.has("mount");
  if (!privateMounts || chance(0.2)) delete linux.maskedPaths;
  if (!privateMounts || chance(0.2)) delete linux.readonlyPaths;
  spec.root!.readonly = privateMounts && chance(0.5);
  if (privateMounts && chance(0.15)) linux.rootfsPropagation = pick(["rslave", "rprivate", "shared"]);
  if (!ns.has("uts")) {
    delete spec.hostname;
  } else if (chance(0.3)) {
    spec.domainname = "example.org";
  }
  if (chance(0.3)) linux.sysctl = { "net.ipv4.ip_forward": "1" };
  if (chance(0.2)) linux.devices = [{ path: "/dev/fuse", type: "c", major: 10, minor: 229 }];

  proc.noNewPrivileges = chance(0.5);
  if (chance(0.2)) delete proc.capabilities;
  if (chance(0.4)) proc.user = { uid: 1000, gid: 1000, additionalGids: [10], umask: 0o027 };
  if (chance(0.3)) proc.cwd = "/work";
  if (chance(0.3)) proc.oomScoreAdj = 100;
  if (chance(0.2)) proc.ioPriority = { class: "IOPRIO_CLASS_BE", priority: 4 };
  if (chance(0.2)) proc.scheduler = { policy: "SCHED_OTHER", nice: 5 };
  if (chance(0.2)) linux.personality = { domain: "LINUX32" };
  if (chance(0.2)) proc.rlimits = [];
  const mode = chance(0.5) ? "wait" : "detach";
  proc.terminal = chance(0.4);
  const consoleSocket = proc.terminal && mode === "detach" ? "/run/console.sock" : undefined;
  if (proc.terminal && mode === "detach" && !consoleSocket) proc.terminal = false;
  const seccomp = chance(0.5)
    ? { bpf: Buffer.alloc(8), flags: 0, ...(chance(0.3) ? { listenerPath: "/run/agent.sock", payload: Buffer.from("{}") } : {}) }
    : undefined;
  const noPivot = privateMounts && !linux.rootfsPropagation?.includes("private") && chance(0.2);
  note(`nnp=${proc.noNewPrivileges} tty=${proc.terminal} mode=${mode} seccomp=${Boolean(seccomp)} noPivot=${noPivot}`);
  return {
    label: label.join(" "),
    input: {
      spec,
      rootfs: R,
      fifoPath: FIFO,
      consoleSocket,
      noPivot,
      cgroupProcs: chance(0.9) ? ["/sys/fs/cgroup/pids/c1/cgroup.procs", "/sys/fs/cgroup/unified/c1/cgroup.procs"] : [],
      cgroupPaths: { pids: "/sys/fs/cgroup/pids/c1", unified: "/sys/fs/cgroup/unified/c1" },
      mode,
      parentCgroupProcs: mode === "wait" && chance(0.7) ? ["/sys/fs/cgroup/pids/polis/cgroup.procs"] : undefined,
      hostHasKcore: chance(0.5),
      bundle: "/b",
      sourceKind: (p) => (p.endsWith(".conf") ? "file" : "dir"),
      rootfsParentMount: linux.rootfsPropagation === "shared" ? "/b" : undefined,
      seccomp,
      sessionKeyring: chance(0.7) ? "_ses.c1" : undefined,
    },
  };
}

/** Positions of ops in a plan, by code, for the rules below. */
class View {
  constructor(readonly plan: Plan) {}
  get ops(): Op[] {
    return this.plan.ops;
  }
  all(code: OpCode): number[] {
    return this.ops.flatMap((o, i) => (o.code === code ? [i] : []));
  }
  first(code: OpCode): number {
    return this.ops.findIndex((o) => o.code === code);
  }
  last(code: OpCode): number {
    return this.ops.map((o) => o.code).lastIndexOf(code);
  }
  has(code: OpCode): boolean {
    return this.first(code) >= 0;
  }
  /** the one op that puts the process in its root: pivot_root, MS_MOVE or chroot */
  get rootSwitch(): number {
    const at = [OpCode.PIVOT_ROOT, OpCode.MOVE_ROOT, OpCode.CHROOT].flatMap((c) => this.all(c));
    expect(at, "exactly one root switch").toHaveLength(1);
    return at[0];
  }
  /** ops that build the rootfs from config.json's mounts and devices */
  rootfsOps(): number[] {
    const clone = this.first(OpCode.CLONE);
    return this.ops.flatMap((o, i) => (/^(mounts|linux\.devices)/.test(o.field) && i > clone && i < this.rootSwitch ? [i] : []));
  }
}

/** A rule: `check` throws (through expect) when the plan breaks it. */
const RULES: [string, (v: View, input: InitPlanInput) => void][] = [
  [
    "one CLONE; before it only what needs the runtime's view (cgroupfs, sockets, host paths, namespaces)",
    (v) => {
      expect(v.all(OpCode.CLONE)).toHaveLength(1);
      const before = new Set([
        OpCode.PARENT_CGROUPS,
        OpCode.CGROUP_JOIN,
        OpCode.CONSOLE_SOCKET,
        OpCode.CONSOLE_PAIR,
        OpCode.SECCOMP_LISTENER,
        OpCode.FIFO_OPEN,
        OpCode.SETNS,
        OpCode.TIMENS,
        OpCode.OPEN_TREE,
      ]);
      for (const op of v.ops.slice(0, v.first(OpCode.CLONE))) expect(before, OpCode[op.code]).toContain(op.code);
      expect(v.ops[v.first(OpCode.CLONE) + 1].code, "SETSID right after CLONE").toBe(OpCode.SETSID);
    },
  ],
  [
    "PARENT_CGROUPS first; cgroups joined before any SETNS hides the host's cgroupfs",
    (v) => {
      if (v.has(OpCode.PARENT_CGROUPS)) expect(v.first(OpCode.PARENT_CGROUPS)).toBe(0);
      if (v.has(OpCode.SETNS)) for (const i of v.all(OpCode.CGROUP_JOIN)) expect(i).toBeLessThan(v.first(OpCode.SETNS));
    },
  ],
  [
    "host paths opened before a SETNS can hide them: agent socket, bind sources, the fifo of a joined mount ns",
    (v) => {
      const setns = v.has(OpCode.SETNS) ? v.first(OpCode.SETNS) : v.first(OpCode.CLONE);
      for (const c of [OpCode.SECCOMP_LISTENER, OpCode.OPEN_TREE, OpCode.CONSOLE_SOCKET])
        for (const i of v.all(c)) expect(i).toBeLessThan(setns);
      expect(v.all(OpCode.FIFO_OPEN)).toHaveLength(1);
      expect(v.first(OpCode.FIFO_OPEN)).toBeLessThan(v.rootSwitch);
    },
  ],
  [
    "a user-namespaced container: BECOME_ROOT before any mount; every bind source opened by the runtime",
    (v, input) => {
      const userns = (input.spec.linux?.namespaces ?? []).some((n) => n.type === "user");
      const binds = (input.spec.mounts ?? []).filter(
        (m) => m.type !== "cgroup" && (m.type === "none" || /bind/.test(`${m.type} ${(m.options ?? []).join(" ")}`)),
      );
      expect(v.all(OpCode.OPEN_TREE)).toHaveLength(userns ? binds.length : 0);
      expect(v.all(OpCode.MOVE_MOUNT)).toHaveLength(userns ? binds.length : 0);
      if (v.has(OpCode.BECOME_ROOT)) {
        expect(v.first(OpCode.BECOME_ROOT)).toBeLessThan(Math.min(...v.all(OpCode.MOUNT), ...v.all(OpCode.MKDIRS)));
        if (v.has(OpCode.NEW_KEYRING)) expect(v.first(OpCode.NEW_KEYRING)).toBeGreaterThan(v.first(OpCode.BECOME_ROOT));
      }
    },
  ],
  [
    "mounts before the root switch, in config order; the hooks' PAUSE after them and before the switch",
    (v) => {
      const rootfs = v.rootfsOps();
      for (const i of rootfs) expect(i).toBeLessThan(v.rootSwitch);
      const order = rootfs
        .map((i) => v.ops[i].field)
        .filter((f) => f.startsWith("mounts["))
        .map((f) => Number(/\d+/.exec(f)![0]));
      expect(order).toEqual([...order].sort((a, b) => a - b));
      const pause = v.first(OpCode.PAUSE);
      expect(v.ops[pause].args).toEqual(["hooks"]);
      expect(pause).toBeGreaterThan(Math.max(-1, ...rootfs));
      expect(pause).toBeLessThan(v.rootSwitch);
    },
  ],
  [
    "after the root switch no op names a host rootfs path",
    (v) => {
      for (const op of v.ops.slice(v.rootSwitch + 1)) {
        for (const a of op.args) if (typeof a === "string") expect(a.startsWith(R), `${OpCode[op.code]} ${a}`).toBe(false);
      }
    },
  ],
  [
    "read-only paths, then masks, after every mount and the root switch; / made read-only after the console",
    (v) => {
      const ro = v.all(OpCode.READONLY);
      const masks = v.all(OpCode.MASK);
      const lastMount = Math.max(-1, ...v.all(OpCode.MOUNT), ...v.all(OpCode.MOUNT_KEEP_MODE), ...v.all(OpCode.MOVE_MOUNT));
      for (const i of [...ro, ...masks]) expect(i).toBeGreaterThan(Math.max(lastMount, v.rootSwitch));
      if (ro.length && masks.length) expect(Math.max(...ro)).toBeLessThan(Math.min(...masks));
      // the null device masks are made of is the host's, opened before the root switch
      expect(v.has(OpCode.MASK_SOURCE)).toBe(masks.length > 0);
      if (masks.length) expect(v.first(OpCode.MASK_SOURCE)).toBeLessThan(v.rootSwitch);
      const rootRo = v.ops.findIndex((o) => o.field === "root.readonly");
      if (rootRo >= 0) {
        expect(rootRo).toBeGreaterThan(v.rootSwitch);
        if (v.has(OpCode.CONSOLE)) expect(v.first(OpCode.CONSOLE)).toBeLessThan(rootRo);
      }
    },
  ],
  [
    "hostname, domainname and sysctls are set in the container's root (its /proc)",
    (v) => {
      for (const c of [OpCode.SETHOSTNAME, OpCode.SETDOMAINNAME])
        for (const i of v.all(c)) expect(i).toBeGreaterThan(v.rootSwitch);
      for (const i of v.all(OpCode.WRITE_FILE)) expect(i).toBeGreaterThan(v.rootSwitch);
    },
  ],
  [
    "a console only with a socket or pair before CLONE; made in the container's root, before the user switch",
    (v) => {
      const console = v.has(OpCode.CONSOLE);
      expect(v.has(OpCode.CONSOLE_SOCKET) || v.has(OpCode.CONSOLE_PAIR)).toBe(console);
      if (!console) return;
      expect(v.first(OpCode.CONSOLE)).toBeGreaterThan(v.rootSwitch);
      expect(v.first(OpCode.CONSOLE)).toBeLessThan(v.first(OpCode.USER));
    },
  ],
  [
    "limits and scheduling while still privileged: before the bounding set and the user switch",
    (v) => {
      const oom = v.ops.findIndex((o) => o.field === "process.oomScoreAdj");
      for (const i of [
        ...v.all(OpCode.RLIMIT),
        ...v.all(OpCode.IOPRIO),
        ...v.all(OpCode.SCHED),
        ...v.all(OpCode.PERSONALITY),
        oom,
      ].filter((i) => i >= 0)) {
        expect(i).toBeLessThan(v.first(OpCode.USER));
        if (v.has(OpCode.CAP_BOUNDING)) expect(i).toBeLessThan(v.first(OpCode.CAP_BOUNDING));
      }
    },
  ],
  [
    "capabilities: bounding set and chdir before the user switch; caps and ambient after it; no_new_privs after them",
    (v) => {
      const user = v.first(OpCode.USER);
      expect(v.all(OpCode.USER)).toHaveLength(1);
      if (v.has(OpCode.CAP_BOUNDING)) expect(v.first(OpCode.CAP_BOUNDING)).toBeLessThan(user);
      expect(v.first(OpCode.CHDIR)).toBeLessThan(user);
      expect(v.has(OpCode.CAPS)).toBe(v.has(OpCode.CAP_BOUNDING));
      if (v.has(OpCode.CAPS)) {
        expect(v.first(OpCode.CAPS)).toBeGreaterThan(user);
        expect(v.first(OpCode.CAP_AMBIENT)).toBeGreaterThan(v.first(OpCode.CAPS));
      }
      if (v.has(OpCode.NO_NEW_PRIVS))
        expect(v.first(OpCode.NO_NEW_PRIVS)).toBeGreaterThan(Math.max(user, v.first(OpCode.CAP_AMBIENT)));
    },
  ],
  [
    "seccomp last but before exec: right before EXEC with no_new_privs, else before any privilege is dropped",
    (v, input) => {
      if (!input.seccomp) return expect(v.has(OpCode.SECCOMP)).toBe(false);
      const at = v.all(OpCode.SECCOMP);
      expect(at).toHaveLength(1);
      expect(at[0]).toBeGreaterThan(v.rootSwitch);
      if (input.spec.process!.noNewPrivileges) {
        expect(at[0]).toBe(v.first(OpCode.EXEC) - 1);
        expect(at[0]).toBeGreaterThan(v.first(OpCode.FIFO_WAIT));
      } else {
        for (const c of [OpCode.CAP_BOUNDING, OpCode.USER, OpCode.CAPS]) if (v.has(c)) expect(at[0]).toBeLessThan(v.first(c));
      }
      expect(v.has(OpCode.SECCOMP_LISTENER)).toBe(Boolean(input.seccomp.listenerPath));
    },
  ],
  [
    "the end: FIND_EXEC, READY, FIFO_WAIT, (SECCOMP), EXEC, after everything else",
    (v) => {
      const end = v.ops
        .slice(v.first(OpCode.FIND_EXEC))
        .map((o) => OpCode[o.code])
        .filter((n) => n !== "SECCOMP");
      expect(end).toEqual(["FIND_EXEC", "READY", "FIFO_WAIT", "EXEC"]);
      expect(v.first(OpCode.FIND_EXEC)).toBeGreaterThan(v.first(OpCode.USER));
    },
  ],
  [
    "every op names a config.json field and says what it does",
    (v) => {
      for (const op of v.ops) {
        expect(op.field).toMatch(/^[a-zA-Z]+(\.[a-zA-Z0-9_.]+|\[\d+\])*(\[\d+\])?(\.[a-zA-Z]+)*$/);
        expect(op.what.length).toBeGreaterThan(3);
      }
    },
  ],
];

describe("buildInitPlan: ordering rules over generated configs", () => {
  const rand = seeded(seed);
  const cases = Array.from({ length: 300 }, () => generate(rand));

  it.each(RULES)("%s", (_name, rule) => {
    let checked = 0;
    for (const { label, input } of cases) {
      let plan: Plan;
      try {
        plan = buildInitPlan(input);
      } catch (e) {
        throw new Error(`seed ${seed}: config [${label}] did not build: ${(e as Error).message}`);
      }
      try {
        rule(new View(plan), input);
      } catch (e) {
        (e as Error).message = `seed ${seed}, config [${label}]: ${(e as Error).message}`;
        throw e;
      }
      checked++;
    }
    expect(checked).toBe(cases.length);
  });

  it("the generator reaches the variants the rules are about", () => {
    const plans = cases.map((c) => new View(buildInitPlan(c.input)));
    for (const code of [
      OpCode.CHROOT,
      OpCode.MOVE_ROOT,
      OpCode.PIVOT_ROOT,
      OpCode.OPEN_TREE,
      OpCode.CONSOLE,
      OpCode.SECCOMP_LISTENER,
      OpCode.MASK,
      OpCode.MOUNT_KEEP_MODE,
      OpCode.BECOME_ROOT,
      OpCode.TIMENS,
      OpCode.SETNS,
      OpCode.NO_NEW_PRIVS,
    ]) {
      expect(plans.filter((v) => v.has(code)).length, OpCode[code]).toBeGreaterThan(3);
    }
  });
});

describe("buildInitPlan: a small golden", () => {
  it("pins the plainest plan: one mount namespace, no mounts, no process attributes", () => {
    const spec: Spec = {
      ociVersion: "1.2.0",
      root: { path: "rootfs" },
      process: { args: ["true"], cwd: "/", user: { uid: 0, gid: 0 } },
      linux: { namespaces: [{ type: "mount" }] },
    };
    const plan = buildInitPlan({
      spec,
      rootfs: R,
      fifoPath: FIFO,
      noPivot: false,
      cgroupProcs: [],
      cgroupPaths: {},
      mode: "detach",
      hostHasKcore: false,
    });
    const dev = (name: string, major: number, minor: number) => [
      "MKNOD",
      `/dev/${name}`,
      "c",
      `${major}`,
      `${minor}`,
      "438",
      "0",
      "0",
      R,
    ];
    expect(plan.ops.map((o) => [OpCode[o.code], ...o.args.map(String)])).toEqual([
      ["CLONE", String(0x00020000), "", "", "", "detach"],
      ["SETSID"],
      ["FIFO_OPEN", FIFO],
      ["MOUNT", "", "/", "", String(MS.SLAVE | MS.REC), "", ""],
      ["MOUNT", R, R, "", String(MS.BIND | MS.REC), "", ""],
      ["MKDIRS", "/dev", R, "dir"],
      dev("null", 1, 3),
      dev("random", 1, 8),
      dev("full", 1, 7),
      dev("tty", 5, 0),
      dev("zero", 1, 5),
      dev("urandom", 1, 9),
      ["SYMLINK", "pts/ptmx", "/dev/ptmx", R],
      ["SYMLINK", "/proc/self/fd", "/dev/fd", R],
      ["SYMLINK", "/proc/self/fd/0", "/dev/stdin", R],
      ["SYMLINK", "/proc/self/fd/1", "/dev/stdout", R],
      ["SYMLINK", "/proc/self/fd/2", "/dev/stderr", R],
      ["PAUSE", "hooks"],
      ["PIVOT_ROOT", R],
      ["CHDIR", "/"],
      ["USER", "0", "0", "", "0022"],
      ["FIND_EXEC", "true", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
      ["READY"],
      ["FIFO_WAIT"],
      ["EXEC", "1", "true"],
    ]);
  });
});

describe("buildJoinPlan (exec, in-container hooks): ordering rules over generated inputs", () => {
  const rand = seeded(seed + 1);
  const chance = (p: number) => rand() < p;
  const inputs: JoinPlanInput[] = Array.from({ length: 200 }, () => {
    const proc = fixture().process!;
    proc.noNewPrivileges = chance(0.5);
    proc.terminal = chance(0.4);
    if (chance(0.4)) proc.user = { uid: 1000, gid: 1000 };
    const mode = chance(0.5) ? "wait" : "detach";
    return {
      pid: 4242,
      namespaces: JOIN_ORDER.filter(() => chance(0.6)) as NamespaceType[],
      cgroupProcs: chance(0.8) ? ["/sys/fs/cgroup/pids/c1/cgroup.procs"] : [],
      parentCgroupProcs: mode === "wait" && chance(0.5) ? ["/sys/fs/cgroup/pids/polis/cgroup.procs"] : undefined,
      process: chance(0.8) ? proc : undefined,
      consoleSocket: proc.terminal && mode === "detach" ? "/run/c.sock" : undefined,
      mode,
      argv: ["sh", "-c", "true"],
      env: ["PATH=/bin"],
      path: chance(0.2) ? "/hooks/h" : undefined,
      seccomp: chance(0.5) ? { bpf: Buffer.alloc(8), flags: 0 } : undefined,
      sessionKeyring: chance(0.5) ? "_ses.c1" : undefined,
      chroot: chance(0.2) ? "/proc/4242/root" : undefined,
    };
  });

  it("joins cgroups, then namespaces in JOIN_ORDER (user first, mount last), then one CLONE; EXEC last", () => {
    for (const input of inputs) {
      const v = new View(buildJoinPlan(input));
      const setns = v.all(OpCode.SETNS).map((i) => v.ops[i].args[0]);
      expect(setns).toEqual(JOIN_ORDER.filter((t) => input.namespaces.includes(t)));
      const clone = v.first(OpCode.CLONE);
      expect(v.all(OpCode.CLONE)).toHaveLength(1);
      for (const i of [...v.all(OpCode.SETNS), ...v.all(OpCode.CGROUP_JOIN), ...v.all(OpCode.SECCOMP_LISTENER)])
        expect(i).toBeLessThan(clone);
      if (v.has(OpCode.SETNS)) for (const i of v.all(OpCode.CGROUP_JOIN)) expect(i).toBeLessThan(v.first(OpCode.SETNS));
      expect(v.ops[clone + 1].code).toBe(OpCode.SETSID);
      expect(v.last(OpCode.EXEC)).toBe(v.ops.length - 1);
    }
  });

  it("chroot (no mount namespace) before the terminal and the process attributes", () => {
    for (const input of inputs) {
      const v = new View(buildJoinPlan(input));
      expect(v.has(OpCode.CHROOT)).toBe(Boolean(input.chroot));
      if (!input.chroot) continue;
      for (const c of [OpCode.CONSOLE, OpCode.CHDIR, OpCode.USER, OpCode.FIND_EXEC])
        if (v.has(c)) expect(v.first(OpCode.CHROOT)).toBeLessThan(v.first(c));
    }
  });

  it("seccomp: right before EXEC with no_new_privs or no process spec, else before any privilege is dropped", () => {
    for (const input of inputs) {
      const v = new View(buildJoinPlan(input));
      if (!input.seccomp) {
        expect(v.has(OpCode.SECCOMP)).toBe(false);
        continue;
      }
      const at = v.first(OpCode.SECCOMP);
      if (!input.process || input.process.noNewPrivileges) expect(at).toBe(v.first(OpCode.EXEC) - 1);
      else for (const c of [OpCode.CAP_BOUNDING, OpCode.USER, OpCode.CAPS]) if (v.has(c)) expect(at).toBeLessThan(v.first(c));
    }
  });

  it("capabilities after the user switch; the console before it, owned by the process's uid", () => {
    for (const input of inputs) {
      const v = new View(buildJoinPlan(input));
      if (v.has(OpCode.CAPS)) expect(v.first(OpCode.CAPS)).toBeGreaterThan(v.first(OpCode.USER));
      if (!v.has(OpCode.CONSOLE)) continue;
      if (v.has(OpCode.USER)) expect(v.first(OpCode.CONSOLE)).toBeLessThan(v.first(OpCode.USER));
      const uid = input.process?.user.uid ?? 0;
      expect(v.ops[v.first(OpCode.CONSOLE)].args[2]).toBe(uid === 0 ? -1 : uid);
    }
  });
});

describe("mountsBelow (what delete detaches for a container without a mount namespace)", () => {
  it("lists mounts strictly below the rootfs, newest first, never the rootfs itself or a sibling", () => {
    const points = [
      "/",
      "/b/rootfs",
      "/b/rootfs/proc",
      "/b/rootfs-other/proc",
      "/b/rootfs/dev",
      "/b/rootfs/dev/pts",
      "/b/rootfs/dev",
    ];
    expect(mountsBelow("/b/rootfs", points)).toEqual(["/b/rootfs/dev", "/b/rootfs/dev/pts", "/b/rootfs/dev", "/b/rootfs/proc"]);
    expect(mountsBelow("/b/rootfs/", points)).toEqual(mountsBelow("/b/rootfs", points));
  });
});
