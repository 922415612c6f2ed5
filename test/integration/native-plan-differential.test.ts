// The native launcher's init plan (native/launcher/plan_init.c, plan_init_build) against node's
// (src/container/launch.ts planInit), byte for byte, over a corpus of configs; and the other half
// of the contract: every config the native builder does not handle, and every config node
// rejects, is refused (the launcher then hands the create to node, which reports the error).
// The C side runs through native/launcher/plan_dump.c, compiled here with binding.gyp's flags.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultSpec } from "../../src/spec/default.js";
import { hostLayout, ownProcsFiles } from "../../src/cgroups/index.js";
import { nodePlan, type PlanInput } from "../helpers/node-plan.js";
import { seeded } from "../helpers/random.js";

const REPO = join(__dirname, "..", "..");
const SQLITE_LIB = join(REPO, "native", "build", "Release", "polis-sqlite.a");
const PLAN_SOURCES = [
  "plan_dump",
  "plan_init",
  "plan_emit",
  "plan_mounts",
  "plan_devices",
  "plan_json",
  "plan_check",
  "plan_names",
  "plan_path",
  "plan_home",
  "plan_seccomp",
  "report",
];

/** The launcher target's compiler and linker flags, from native/binding.gyp (comments dropped). */
function launcherFlags(): { cflags: string[]; ldflags: string[] } {
  const text = readFileSync(join(REPO, "native", "binding.gyp"), "utf8")
    .split("\n")
    .filter((l) => !l.trim().startsWith("#"))
    .join("\n");
  const gyp = JSON.parse(text) as { targets: { target_name: string; cflags: string[]; ldflags: string[] }[] };
  const t = gyp.targets.find((x) => x.target_name === "polis")!;
  return { cflags: t.cflags, ldflags: t.ldflags };
}

let work: string;
let dumper: string;
let bundle: string;
let rootfs: string;

type Config = Record<string, any>;
type Edit = (c: Config) => void;

// Inputs of a pure function (the plan builders never touch these paths): one fixture per layout,
// this host's hybrid v1 and a v2-only tree, so both are covered wherever the suite runs.
const V1_CGROUPS: [string, string][] = [
  ["cpu", "/sys/fs/cgroup/cpu,cpuacct/polis/t"],
  ["cpuacct", "/sys/fs/cgroup/cpu,cpuacct/polis/t"],
  ["memory", "/sys/fs/cgroup/memory/polis/t"],
  ["devices", "/sys/fs/cgroup/devices/polis/t"],
  ["name=systemd", "/sys/fs/cgroup/systemd/polis/t"],
  ["unified", "/sys/fs/cgroup/unified/polis/t"],
];
const V2_CGROUPS: [string, string][] = [["unified", "/sys/fs/cgroup/polis/t"]];

function input(extra: Partial<PlanInput> = {}): PlanInput {
  const cgroupPaths = extra.cgroupPaths ?? V1_CGROUPS;
  return {
    bundle,
    rootfs,
    fifo: join(work, "state", "exec.fifo"),
    keyring: "_ses.t",
    cgroupPaths,
    procs: [...new Set(cgroupPaths.map(([, d]) => d))].map((d) => join(d, "cgroup.procs")),
    ...extra,
  };
}

/** The C builder's answer: the plan bytes, or null when it refuses. */
function nativePlan(text: string | Buffer, inp: PlanInput): { plan: Buffer | null; why: string } {
  const file = join(work, "config.json");
  writeFileSync(file, text);
  const args = [file, inp.bundle, inp.rootfs, inp.fifo];
  if (inp.noPivot) args.push("--no-pivot");
  if (inp.keyring) args.push("--keyring", inp.keyring);
  for (const [k, d] of inp.cgroupPaths) args.push("--cg", `${k}=${d}`);
  for (const p of inp.procs) args.push("--procs", p);
  if (inp.consoleSocket) args.push("--console-socket", inp.consoleSocket);
  if (inp.mode === "wait") {
    args.push("--wait");
    for (const p of ownProcsFiles(hostLayout())) args.push("--parent", p);
  }
  const r = spawnSync(dumper, args, { encoding: "buffer" });
  if (r.status === 2) return { plan: null, why: r.stderr.toString() };
  if (r.status !== 0) throw new Error(`plan-dump failed (${r.status ?? r.signal}): ${r.stderr.toString()}`);
  return { plan: r.stdout, why: "" };
}

/** `polis spec --rootless` with a command and no terminal: a user namespace. */
function rootless(): Config {
  const c = JSON.parse(JSON.stringify(defaultSpec({ rootless: true }))) as Config;
  c.process.args = ["/bin/true"];
  c.process.terminal = false;
  return c;
}

/** The bench bundle's config: `polis spec` with a command and no terminal. */
function bench(): Config {
  const c = defaultSpec() as Config;
  c.process.args = ["/bin/true"];
  c.process.terminal = false;
  return JSON.parse(JSON.stringify(c));
}

/** containerd's default spec for `ctr run` (oci.populateDefaultUnixSpec + WithAdditionalGIDs). */
function ctrDefault(): Config {
  const caps = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
  ];
  return {
    ociVersion: "1.1.0",
    process: {
      user: { uid: 0, gid: 0, additionalGids: [0, 1, 2, 3, 4, 6, 10, 11, 20, 26, 27] },
      args: ["sh", "-c", "true"],
      env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
      cwd: "/",
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      rlimits: [{ type: "RLIMIT_NOFILE", hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: "rootfs" },
    hostname: "ctr",
    mounts: [
      { destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"] },
      { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"] },
      {
        destination: "/dev/pts",
        type: "devpts",
        source: "devpts",
        options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
      },
      {
        destination: "/dev/shm",
        type: "tmpfs",
        source: "shm",
        options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
      },
      { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
      { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] },
      { destination: "/run", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"] },
    ],
    linux: {
      resources: { devices: [{ allow: false, access: "rwm" }] },
      cgroupsPath: "/default/t",
      namespaces: [{ type: "pid" }, { type: "ipc" }, { type: "uts" }, { type: "mount" }, { type: "network" }],
      maskedPaths: [
        "/proc/acpi",
        "/proc/asound",
        "/proc/kcore",
        "/proc/keys",
        "/proc/latency_stats",
        "/proc/timer_list",
        "/proc/timer_stats",
        "/proc/sched_debug",
        "/sys/firmware",
        "/sys/devices/virtual/powercap",
        "/proc/scsi",
      ],
      readonlyPaths: ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
    },
  };
}

const edit =
  (base: () => Config, f: Edit): (() => Config) =>
  () => {
    const c = base();
    f(c);
    return c;
  };
const mount =
  (m: Config): Edit =>
  (c) =>
    c.mounts.push(m);
const ns =
  (list: Config[]): Edit =>
  (c) =>
    (c.linux.namespaces = list);

/** Configs both must build, with the same bytes (and each must be accepted natively). */
const SAME: [string, () => Config, Partial<PlanInput>?][] = [
  ["bench bundle", bench],
  ["bench bundle, cgroup v2", bench, { cgroupPaths: V2_CGROUPS }],
  ["bench bundle, --no-pivot", bench, { noPivot: true }],
  ["bench bundle, --no-new-keyring", bench, { keyring: undefined }],
  ["bench bundle, no cgroups", bench, { cgroupPaths: [], procs: [] }],
  ["bench bundle, foreground run", bench, { mode: "wait" }],
  ["bench bundle, foreground run, cgroup v2", bench, { mode: "wait", cgroupPaths: V2_CGROUPS }],
  ["terminal with a console socket", edit(bench, (c) => (c.process.terminal = true)), { consoleSocket: "/run/x/console.sock" }],
  [
    "terminal with a console socket and a size, as a user",
    edit(bench, (c) => {
      c.process.terminal = true;
      c.process.consoleSize = { height: 24, width: 80 };
      c.process.user = { uid: 1000, gid: 5 };
    }),
    { consoleSocket: "/s" },
  ],
  [
    "terminal in a foreground run (proxied)",
    edit(bench, (c) => {
      c.process.terminal = true;
      c.process.consoleSize = { height: 0, width: 132 };
    }),
    { mode: "wait" },
  ],
  [
    "terminal in a foreground run, mount namespace joined",
    edit(bench, (c) => {
      c.process.terminal = true;
      c.linux.namespaces = [{ type: "mount", path: "/proc/1/ns/mnt" }];
      delete c.hostname;
    }),
    { mode: "wait" },
  ],
  ["consoleSize without a terminal", edit(bench, (c) => (c.process.consoleSize = { height: 1, width: 1 }))],
  ["ctr run default", ctrDefault],
  ["ctr run default, cgroup v2", ctrDefault, { cgroupPaths: V2_CGROUPS }],
  ["writable root", edit(bench, (c) => (c.root.readonly = false))],
  ["absolute root path", edit(bench, (c) => (c.root.path = rootfs))],
  ["HOME given", edit(bench, (c) => c.process.env.push("HOME=/home/x"))],
  ["HOME empty", edit(bench, (c) => c.process.env.splice(1, 0, "HOME="))],
  ["HOME of uid 1000", edit(bench, (c) => (c.process.user = { uid: 1000, gid: 1000 }))],
  ["HOME of an unknown uid", edit(bench, (c) => (c.process.user = { uid: 4242, gid: 0 }))],
  [
    "HOME from a bound passwd",
    edit(bench, mount({ destination: "/etc/passwd", type: "bind", source: "passwd", options: ["rbind", "ro"] })),
  ],
  ["no env", edit(bench, (c) => delete c.process.env)],
  ["env without PATH", edit(bench, (c) => (c.process.env = ["A=1", "B=two=2"]))],
  ["two PATHs", edit(bench, (c) => c.process.env.push("PATH=/x"))],
  [
    "user with groups and umask",
    edit(bench, (c) => (c.process.user = { uid: 1000, gid: 100, additionalGids: [5, 6, 4294967295], umask: 63 })),
  ],
  ["umask 0", edit(bench, (c) => (c.process.user.umask = 0))],
  ["no user", edit(bench, (c) => delete c.process.user)],
  ["cwd elsewhere", edit(bench, (c) => (c.process.cwd = "/work/dir/"))],
  ["cwd unclean", edit(bench, (c) => (c.process.cwd = "//a/../b"))],
  ["no capabilities", edit(bench, (c) => delete c.process.capabilities)],
  ["empty capabilities", edit(bench, (c) => (c.process.capabilities = {}))],
  [
    "all capabilities",
    edit(bench, (c) => {
      const all = ["CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_CHECKPOINT_RESTORE", "CAP_BPF", "CAP_PERFMON", "CAP_MAC_ADMIN"];
      c.process.capabilities = { bounding: all, effective: all, permitted: all, inheritable: all.slice(1), ambient: all };
    }),
  ],
  [
    "rlimits",
    edit(
      bench,
      (c) =>
        (c.process.rlimits = [
          { type: "RLIMIT_NOFILE", soft: 1048576, hard: 1048576 },
          { type: "RLIMIT_CORE", soft: 0, hard: 2 ** 64 },
          { type: "RLIMIT_AS", soft: 2 ** 53 + 2, hard: 2 ** 64 - 2 ** 11 },
          { type: "RLIMIT_RTTIME", soft: 1, hard: 2 },
        ]),
    ),
  ],
  ["no rlimits", edit(bench, (c) => delete c.process.rlimits)],
  ["oomScoreAdj", edit(bench, (c) => (c.process.oomScoreAdj = -999))],
  ["oomScoreAdj 0", edit(bench, (c) => (c.process.oomScoreAdj = 0))],
  ["noNewPrivileges false", edit(bench, (c) => (c.process.noNewPrivileges = false))],
  ["args with spaces and unicode", edit(bench, (c) => (c.process.args = ["/bin/sh", "-c", "echo 'é ✓ 😀'", ""]))],
  [
    "hostname and domainname",
    edit(bench, (c) => {
      c.hostname = "h";
      c.domainname = "example.org";
    }),
  ],
  ["empty hostname", edit(bench, (c) => (c.hostname = ""))],
  ["no hostname", edit(bench, (c) => delete c.hostname)],
  ["annotations", edit(bench, (c) => (c.annotations = { "org.example/a": "1", b: "" }))],
  [
    "sysctl",
    edit(
      bench,
      (c) =>
        (c.linux.sysctl = {
          "net.ipv4.ip_forward": "1",
          "kernel.shmmax": "65536",
          "fs.mqueue.queues_max": "8",
          "kernel.hostname": "runc",
        }),
    ),
  ],
  [
    "no masked or readonly paths",
    edit(bench, (c) => {
      c.linux.maskedPaths = [];
      delete c.linux.readonlyPaths;
    }),
  ],
  [
    "devices",
    edit(
      bench,
      (c) =>
        (c.linux.devices = [
          { path: "/dev/fuse", type: "c", major: 10, minor: 229, fileMode: 438, uid: 0, gid: 0 },
          { path: "/dev/null/", type: "c", major: 1, minor: 3 },
          { path: "/dev/net//tun", type: "c", major: 10, minor: 200, fileMode: 511 },
          { path: "/dev/sda", type: "b", major: 8, minor: 0, uid: 6, gid: 6 },
          { path: "/dev/fifo", type: "p" },
          { path: "/dev/ptmx", type: "c", major: 5, minor: 2 },
          { path: "/other/u", type: "u", major: -1, minor: 0 },
        ]),
    ),
  ],
  [
    "cpu, memory and pids resources",
    edit(bench, (c) =>
      Object.assign(c.linux.resources, {
        cpu: { shares: 1024, quota: -1, period: 100000 },
        memory: { limit: 1 << 30, reservation: 1, swap: -1 },
        pids: { limit: 10 },
      }),
    ),
  ],
  [
    "device rules",
    edit(
      bench,
      (c) =>
        (c.linux.resources = {
          devices: [
            { allow: false, access: "rwm" },
            { allow: true, type: "c", major: 1, minor: 3, access: "rw" },
          ],
        }),
    ),
  ],
  ["no resources", edit(bench, (c) => delete c.linux.resources)],
  ["cgroupsPath", edit(bench, (c) => (c.linux.cgroupsPath = "/polis/t"))],
  [
    "namespaces joined",
    edit(
      bench,
      ns([
        { type: "pid" },
        { type: "network", path: "/proc/1/ns/net" },
        { type: "ipc", path: "/proc/1/ns/ipc" },
        { type: "uts" },
        { type: "mount" },
        { type: "cgroup" },
      ]),
    ),
  ],
  [
    "mount namespace joined",
    edit(bench, ns([{ type: "mount", path: "/proc/1/ns/mnt" }, { type: "uts", path: "/proc/1/ns/uts" }, { type: "pid" }])),
  ],
  [
    "few namespaces",
    edit(bench, (c) => {
      c.linux.namespaces = [{ type: "mount" }, { type: "uts" }];
      delete c.linux.sysctl;
    }),
  ],
  ["cgroup namespace, v1", edit(bench, (c) => c.linux.namespaces.push({ type: "cgroup" }))],
  ["cgroup namespace, v2", edit(bench, (c) => c.linux.namespaces.push({ type: "cgroup" })), { cgroupPaths: V2_CGROUPS }],
  ["cgroup mount rw", edit(bench, (c) => (c.mounts[6].options = ["nosuid", "rprivate"]))],
  ["cgroup mount rw, v2", edit(bench, (c) => (c.mounts[6].options = ["nosuid", "rprivate"])), { cgroupPaths: V2_CGROUPS }],
  ["cgroup2 mount", edit(bench, mount({ destination: "/cg2", type: "cgroup2", source: "cgroup2", options: ["ro"] }))],
  ["bind dir", edit(bench, mount({ destination: "/data", type: "bind", source: "data", options: ["rbind", "rw"] }))],
  [
    "bind file, absolute",
    edit(bench, (c) => c.mounts.push({ destination: "/etc/x", type: "bind", source: join(bundle, "passwd") })),
  ],
  [
    "bind with flags",
    edit(
      bench,
      mount({ destination: "/data/", source: "./data/", options: ["bind", "ro", "nosuid", "nodev", "noexec", "rslave"] }),
    ),
  ],
  [
    "bind recursive attributes",
    edit(
      bench,
      mount({
        destination: "/d2",
        type: "none",
        source: "data",
        options: ["rro", "rnosuid", "rnoatime", "rrw", "ratime", "rstrictatime", "rnosymfollow"],
      }),
    ),
  ],
  ["bind over /dev", edit(bench, mount({ destination: "/dev", type: "bind", source: "/dev", options: ["rbind"] }))],
  ["bind through a symlink", edit(bench, mount({ destination: "/l", type: "bind", source: "link-to-data" }))],
  ["bind with .. in the source", edit(bench, mount({ destination: "/up", type: "bind", source: "data/../data/./" }))],
  ["tmpfs ro", edit(bench, mount({ destination: "/tmp", type: "tmpfs", source: "tmpfs", options: ["ro", "mode=1777"] }))],
  [
    "tmpfs without mode",
    edit(bench, mount({ destination: "/t", type: "tmpfs", options: ["size=1m", "", "tmpcopyup", "defaults", "remount"] })),
  ],
  ["tmpfs ro without mode", edit(bench, mount({ destination: "/t2", type: "tmpfs", options: ["ro", "nodev"] }))],
  ["/dev ro", edit(bench, (c) => c.mounts[1].options.push("ro"))],
  ["mount without type or source", edit(bench, mount({ destination: "/x" }))],
  [
    "mount with unclean destination",
    edit(bench, mount({ destination: "/a//b/./c/../d/", type: "tmpfs", options: ["mode=700"] })),
  ],
  [
    "mount options order",
    edit(
      bench,
      mount({
        destination: "/o",
        type: "tmpfs",
        options: [
          "ro",
          "rw",
          "nosuid",
          "suid",
          "noatime",
          "atime",
          "mode=1",
          "private",
          "shared",
          "unbindable",
          "runbindable",
          "sync",
          "async",
          "dirsync",
          "mand",
          "nomand",
          "nodiratime",
          "diratime",
          "relatime",
          "norelatime",
          "strictatime",
          "nostrictatime",
          "lazytime",
          "nolazytime",
          "acl",
          "noacl",
          "iversion",
          "noiversion",
          "silent",
          "loud",
          "nosymfollow",
          "symfollow",
          "rrelatime",
          "rnorelatime",
          "rdev",
          "rnodev",
          "rexec",
          "rnoexec",
          "rsuid",
          "rdiratime",
          "rnodiratime",
          "rsymfollow",
        ],
      }),
    ),
  ],
  ["no mounts", edit(bench, (c) => delete c.mounts)],
  ["ioPriority", edit(bench, (c) => (c.process.ioPriority = { class: "IOPRIO_CLASS_RT", priority: 7 }))],
  ["ioPriority without priority", edit(bench, (c) => (c.process.ioPriority = { class: "IOPRIO_CLASS_IDLE" }))],
  [
    "scheduler",
    edit(
      bench,
      (c) =>
        (c.process.scheduler = {
          policy: "SCHED_DEADLINE",
          nice: -20,
          priority: -0,
          flags: ["SCHED_FLAG_RESET_ON_FORK", "SCHED_FLAG_UTIL_CLAMP_MAX", "SCHED_FLAG_RECLAIM"],
          runtime: 2 ** 64,
          deadline: 2 ** 53 + 2,
          period: 1,
        }),
    ),
  ],
  ["scheduler, policy only", edit(bench, (c) => (c.process.scheduler = { policy: "SCHED_BATCH" }))],
  ["personality", edit(bench, (c) => (c.linux.personality = { domain: "LINUX32", flags: [] }))],
  ["personality LINUX", edit(bench, (c) => (c.linux.personality = { domain: "LINUX" }))],
  ["rootfsPropagation private", edit(bench, (c) => (c.linux.rootfsPropagation = "private"))],
  ["rootfsPropagation rslave, --no-pivot", edit(bench, (c) => (c.linux.rootfsPropagation = "rslave")), { noPivot: true }],
  ["rootfsPropagation shared (the rootfs's mount made private)", edit(bench, (c) => (c.linux.rootfsPropagation = "shared"))],
  [
    "rootfsPropagation rshared, rootfs on another mount",
    edit(bench, (c) => (c.linux.rootfsPropagation = "rshared")),
    { rootfs: "/dev/shm/no-such-rootfs" },
  ],
  ["rootfsPropagation rshared, rootfs /", edit(bench, (c) => (c.linux.rootfsPropagation = "rshared")), { rootfs: "/" }],
  ["rootfsPropagation runbindable", edit(bench, (c) => (c.linux.rootfsPropagation = "runbindable"))],
  ["a time namespace", edit(bench, (c) => c.linux.namespaces.push({ type: "time" }))],
  [
    "a time namespace with offsets",
    edit(bench, (c) => {
      c.linux.namespaces.push({ type: "time" });
      c.linux.timeOffsets = { boottime: { secs: -5, nanosecs: 7 }, monotonic: { secs: 86400 } };
    }),
  ],
  [
    "empty timeOffsets",
    edit(bench, (c) => {
      c.linux.namespaces.push({ type: "time" });
      c.linux.timeOffsets = {};
    }),
  ],
  ["a time namespace joined", edit(bench, (c) => c.linux.namespaces.push({ type: "time", path: "/proc/1/ns/time" }))],
  [
    "no mount namespace (the runtime's is shared)",
    edit(bench, (c) => {
      c.linux.namespaces = [{ type: "pid" }, { type: "uts" }];
      c.linux.maskedPaths = [];
      delete c.linux.readonlyPaths;
      c.root.readonly = false;
    }),
  ],
  [
    "no mount namespace, --no-pivot",
    edit(bench, (c) => {
      c.linux.namespaces = [{ type: "network" }];
      delete c.hostname;
      c.linux.maskedPaths = [];
      c.linux.readonlyPaths = [];
      delete c.root.readonly;
    }),
    { noPivot: true },
  ],
  ["polis spec --rootless", rootless],
  ["polis spec --rootless, cgroup v2, foreground", rootless, { cgroupPaths: V2_CGROUPS, mode: "wait" }],
  [
    "user namespace with binds and devices",
    edit(rootless, (c) => {
      c.mounts.push(
        { destination: "/data", type: "bind", source: "data", options: ["bind", "ro"] },
        { destination: "/f", type: "none", source: join(bundle, "passwd") },
        { destination: "/cg", type: "cgroup" },
      );
      c.linux.devices = [{ path: "/dev/fuse", type: "c", major: 10, minor: 229 }];
      c.linux.uidMappings.push({ containerID: 1, hostID: 100000, size: 65536 });
    }),
  ],
  [
    "empty id mappings without a user namespace",
    edit(bench, (c) => {
      c.linux.uidMappings = [];
      c.linux.gidMappings = [];
    }),
  ],
  [
    "a user namespace joined, with binds",
    edit(bench, (c) => {
      c.linux.namespaces.push({ type: "user", path: "/proc/1/ns/user" });
      c.mounts.push({ destination: "/data", type: "bind", source: "data" });
    }),
  ],
  [
    "long names (beyond any fixed buffer)",
    edit(bench, (c) => {
      const long = "x".repeat(3000);
      c.mounts.push(
        { destination: `/${long}/cg`, type: "cgroup", options: ["ro"] },
        { destination: `/${long}`, type: "tmpfs", options: [`size=${long}`] },
      );
      c.linux.sysctl = { [`net.${long}`]: long };
      c.process.args = [long];
      c.process.env.push(`A=${long}`);
    }),
  ],
  [
    "hooks (the plan does not depend on them)",
    edit(
      bench,
      (c) =>
        (c.hooks = {
          prestart: [{ path: "/bin/true", args: ["true"], env: ["A=1"], timeout: 5 }],
          createRuntime: [],
          createContainer: [{ path: "/x" }],
          startContainer: [],
          poststart: [],
          poststop: [{ path: "/y" }],
        }),
    ),
  ],
  ["empty hooks", edit(bench, (c) => (c.hooks = {}))],
  [
    "sparse linux",
    edit(bench, (c) => {
      c.linux = { namespaces: [{ type: "mount" }] };
      delete c.hostname;
    }),
  ],
];

/** Configs real clients wrote (test/fixtures/native-plan/README.md), bind sources in the bundle. */
const FIXTURES = ["ctr-run.json", "ctr-run-env-cwd-mount-net-host.json", "cri-sandbox.json", "cri-container.json"];
const fixture = (name: string) => () =>
  JSON.parse(readFileSync(join(REPO, "test", "fixtures", "native-plan", name), "utf8").replaceAll("@BUNDLE@", bundle)) as Config;
for (const name of FIXTURES) {
  SAME.push([name, fixture(name)], [`${name}, cgroup v2`, fixture(name), { cgroupPaths: V2_CGROUPS }]);
}

/** linux.seccomp: compiled by libseccomp on both sides (native/launcher/plan_seccomp.c), so the
 * BPF program inside the SECCOMP op must be the same bytes. */
const profile = (name: string) => JSON.parse(readFileSync(join(REPO, "test", "fixtures", name), "utf8")) as Config;
const withSeccomp = (seccomp: () => Config, f: Edit = () => undefined) =>
  edit(bench, (c) => {
    c.linux.seccomp = seccomp();
    f(c);
  });
const denyMkdir = (extra: Config = {}) => ({
  defaultAction: "SCMP_ACT_ALLOW",
  syscalls: [{ names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: 13 }],
  ...extra,
});
const EVERY_OP = ["SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT"];
const SECCOMP: [string, () => Config][] = [
  ["seccomp: podman's default profile", withSeccomp(() => profile("native-plan/seccomp-podman.json"))],
  [
    "seccomp: podman's default profile, without no_new_privs",
    withSeccomp(
      () => profile("native-plan/seccomp-podman.json"),
      (c) => (c.process.noNewPrivileges = false),
    ),
  ],
  [
    "seccomp: containerd's default profile (ctr run --seccomp)",
    withSeccomp(() => profile("native-plan/seccomp-containerd.json")),
  ],
  ["seccomp: a docker-like default profile", withSeccomp(() => profile("seccomp-docker-like.json"))],
  ["seccomp: runc-style, deny mkdir with EACCES", withSeccomp(() => denyMkdir())],
  ["seccomp: allow everything, no rules", withSeccomp(() => ({ defaultAction: "SCMP_ACT_ALLOW" }))],
  [
    "seccomp: errno default with defaultErrnoRet",
    withSeccomp(() => ({
      ...denyMkdir(),
      defaultAction: "SCMP_ACT_ERRNO",
      defaultErrnoRet: 38,
      syscalls: [{ names: ["read", "write", "exit_group"], action: "SCMP_ACT_ALLOW" }],
    })),
  ],
  [
    "seccomp: errno default, EPERM when unset",
    withSeccomp(() => ({ defaultAction: "SCMP_ACT_ERRNO", syscalls: [{ names: ["read"], action: "SCMP_ACT_ALLOW" }] })),
  ],
  [
    "seccomp: kill-process default, trap, trace, log, kill rules",
    withSeccomp(() => ({
      defaultAction: "SCMP_ACT_KILL_PROCESS",
      syscalls: [
        { names: ["read", "write"], action: "SCMP_ACT_ALLOW" },
        { names: ["getpid"], action: "SCMP_ACT_TRAP" },
        { names: ["getppid"], action: "SCMP_ACT_TRACE", errnoRet: 7 },
        { names: ["uname"], action: "SCMP_ACT_LOG" },
        { names: ["mkdir"], action: "SCMP_ACT_KILL" },
        { names: ["rmdir"], action: "SCMP_ACT_KILL_THREAD" },
      ],
    })),
  ],
  [
    "seccomp: log default (no ENOSYS prefix)",
    withSeccomp(() => ({ defaultAction: "SCMP_ACT_LOG", syscalls: [{ names: ["mkdir"], action: "SCMP_ACT_ERRNO" }] })),
  ],
  [
    "seccomp: args, every operator ANDed on distinct indexes",
    withSeccomp(() =>
      denyMkdir({
        syscalls: [
          {
            names: ["mmap"],
            action: "SCMP_ACT_ERRNO",
            args: EVERY_OP.map((op, index) => ({ index, value: 2 ** index * 3, op })),
          },
        ],
      }),
    ),
  ],
  [
    "seccomp: args, masked equality with valueTwo",
    withSeccomp(() =>
      denyMkdir({
        syscalls: [
          {
            names: ["clone"],
            action: "SCMP_ACT_ERRNO",
            errnoRet: 1,
            args: [{ index: 0, value: 2114060288, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ" }],
          },
        ],
      }),
    ),
  ],
  [
    "seccomp: args, the same index twice (ORed)",
    withSeccomp(() =>
      denyMkdir({
        syscalls: [
          {
            names: ["personality"],
            action: "SCMP_ACT_ERRNO",
            args: [
              { index: 0, value: 0, op: "SCMP_CMP_EQ" },
              { index: 0, value: 8, op: "SCMP_CMP_EQ" },
              { index: 1, value: 4294967295, op: "SCMP_CMP_NE" },
            ],
          },
        ],
      }),
    ),
  ],
  [
    "seccomp: args, values up to the largest double below 2^64",
    withSeccomp(() =>
      denyMkdir({
        syscalls: [
          {
            names: ["ioctl"],
            action: "SCMP_ACT_ERRNO",
            args: [{ index: 1, value: 2 ** 64 - 2 ** 11, valueTwo: 2 ** 53 + 2, op: "SCMP_CMP_MASKED_EQ" }],
          },
        ],
      }),
    ),
  ],
  [
    "seccomp: x86_64, x86, x32 and aarch64",
    withSeccomp(() => denyMkdir({ architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64"] })),
  ],
  [
    "seccomp: only the native architecture, listed twice",
    withSeccomp(() => denyMkdir({ architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86_64"] })),
  ],
  [
    "seccomp: every flag (TSYNC and WAIT_KILLABLE_RECV dropped)",
    withSeccomp(() =>
      denyMkdir({
        flags: [
          "SECCOMP_FILTER_FLAG_TSYNC",
          "SECCOMP_FILTER_FLAG_LOG",
          "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
          "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
        ],
      }),
    ),
  ],
  [
    "seccomp: unknown syscall names are skipped",
    withSeccomp(() => ({
      defaultAction: "SCMP_ACT_ERRNO",
      syscalls: [{ names: ["no_such_syscall", "read", "also_unknown"], action: "SCMP_ACT_ALLOW" }],
    })),
  ],
  [
    "seccomp: a rule with the default action is dropped",
    withSeccomp(() => ({
      defaultAction: "SCMP_ACT_ERRNO",
      syscalls: [
        { names: ["read"], action: "SCMP_ACT_ALLOW" },
        { names: ["openat2"], action: "SCMP_ACT_ERRNO", errnoRet: 1 },
      ],
    })),
  ],
  [
    "seccomp: a pseudo-syscall of another architecture",
    withSeccomp(() => ({
      defaultAction: "SCMP_ACT_ERRNO",
      syscalls: [{ names: ["read", "socketcall", "ipc"], action: "SCMP_ACT_ALLOW" }],
    })),
  ],
  [
    "seccomp: a rule without names' effect (empty args)",
    withSeccomp(() => denyMkdir({ syscalls: [{ names: ["mkdir"], action: "SCMP_ACT_ERRNO", args: [] }] })),
  ],
];
SAME.push(...SECCOMP.map(([name, c]) => [name, c] as [string, () => Config]));
SAME.push(["seccomp: podman's default profile, a foreground run", SECCOMP[0][1], { mode: "wait" }]);

/** The bench config as text, rewritten: number spellings and escapes JSON.parse reads alike. */
const benchText = (f: (t: string) => string) => () => f(JSON.stringify(bench(), null, 1));
const SAME_TEXT: [string, () => string][] = [
  [
    "numbers as -0, 1E3, 1.0 and 10.24e2",
    benchText((t) =>
      t
        .replace('"uid": 0', '"uid": -0')
        .replace('"gid": 0', '"gid": 1E3')
        .replace('"soft": 1024', '"soft": 1.0e3')
        .replace('"hard": 1024', '"hard": 10.24e2'),
    ),
  ],
  ["escapes in strings", benchText((t) => t.replace('"/bin/true"', '"/bin/\\u0074rue", "\\u00e9\\ud83d\\ude00\\n\\"\\/"'))],
  ["minified", () => JSON.stringify(bench())],
  [
    "u64 literals JSON.parse rounds",
    benchText((t) =>
      t.replace('"soft": 1024', '"soft": 9007199254740993').replace('"hard": 1024', '"hard": 18446744073709551615'),
    ),
  ],
  [
    "u64 literals just below 2^64",
    benchText((t) =>
      t.replace('"soft": 1024', '"soft": 18446744073709550591').replace('"hard": 1024', '"hard": 1.8446744073709550e19'),
    ),
  ],
  [
    "-0 everywhere",
    () => {
      const c = bench();
      c.process.user = { uid: 0, gid: 0, additionalGids: [0, 1], umask: 0 };
      c.process.oomScoreAdj = 0;
      c.process.rlimits = [{ type: "RLIMIT_CORE", soft: 0, hard: 0 }];
      c.linux.devices = [{ path: "/dev/z", type: "c", major: 0, minor: 0, fileMode: 0, uid: 0, gid: 0 }];
      return JSON.stringify(c).replace(/([:,[])0([,}\]])/g, "$1-0$2");
    },
  ],
  ["tabs and CRLF", benchText((t) => t.replace(/\n/g, "\r\n\t"))],
];

/** Text node accepts that the C builder must still refuse (the two JSON readers would differ). */
const REFUSED_TEXT: [string, () => string | Buffer][] = [
  ["a duplicate key (JSON.parse keeps the last)", benchText((t) => t.replace('"cwd": "/"', '"cwd": "/x", "cwd": "/"'))],
  ["a duplicate key spelled with an escape", benchText((t) => t.replace('"cwd": "/"', '"cwd": "/x", "c\\u0077d": "/"'))],
  ["a lone surrogate", benchText((t) => t.replace('"/bin/true"', '"/bin/true", "\\ud800"'))],
  ["a NUL in a key", benchText((t) => t.replace('"cwd": "/"', '"cwd": "/", "c\\u0000": 1'))],
  ["a NUL in a string", benchText((t) => t.replace('"/bin/true"', '"/bin/true", "a\\u0000b"'))],
  [
    "invalid UTF-8 (read as U+FFFD)",
    () => {
      const [before, after] = JSON.stringify(bench()).split('"/bin/true"');
      return Buffer.concat([Buffer.from(`${before}"/bin/true", "a`), Buffer.from([0xff]), Buffer.from(`b"${after}`)]);
    },
  ],
];

/** Text node rejects. */
const REJECTED_TEXT: [string, () => string][] = [
  ["a trailing comma (JSON5)", benchText((t) => t.replace('"cwd": "/"', '"cwd": "/",'))],
  ["a comment (JSON5)", benchText((t) => t.replace('"cwd": "/"', '"cwd": "/" /* here */'))],
  ["a hex number (JSON5)", benchText((t) => t.replace('"uid": 0', '"uid": 0x0'))],
  ["single quotes (JSON5)", benchText((t) => t.replace('"cwd": "/"', "'cwd': '/'"))],
  ["a byte order mark", benchText((t) => "\ufeff" + t)],
  ["a fraction for an integer", benchText((t) => t.replace('"uid": 0', '"uid": 0.5'))],
  ["a uint32 out of range", benchText((t) => t.replace('"uid": 0', '"uid": 4294967296'))],
  ["an infinite rlimit", benchText((t) => t.replace('"soft": 1024', '"soft": 1e400'))],
  ["an array", () => "[]"],
  ["a NUL byte after the document", benchText((t) => `${t}\u0000 garbage`)],
  ["empty", () => ""],
  ["two documents", benchText((t) => t + " {}")],
];

/** Configs node handles that the native builder leaves to node (one unsupported field each). */
const REFUSED: [string, Edit][] = [
  [
    "process.consoleSize beyond 2^53",
    (c) => {
      c.process.terminal = true;
      c.process.consoleSize = { height: 2 ** 60, width: 2 };
    },
  ],
  ["process.commandLine", (c) => (c.process.commandLine = "x")],
  ["process.execCPUAffinity", (c) => (c.process.execCPUAffinity = { initial: "0" })],
  ["process.user.username", (c) => (c.process.user.username = "root")],
  ["process.apparmorProfile empty", (c) => (c.process.apparmorProfile = "")],
  ["an unknown hook", (c) => (c.hooks = { preStart: [] })],
  [
    "linux.seccomp with SCMP_ACT_NOTIFY",
    (c) =>
      (c.linux.seccomp = {
        defaultAction: "SCMP_ACT_ALLOW",
        listenerPath: "/run/agent.sock",
        syscalls: [{ names: ["mkdir"], action: "SCMP_ACT_NOTIFY" }],
      }),
  ],
  [
    "linux.seccomp.listenerPath without a notify rule",
    (c) => (c.linux.seccomp = { defaultAction: "SCMP_ACT_ALLOW", listenerPath: "/run/agent.sock" }),
  ],
  ["linux.seccomp.listenerMetadata", (c) => (c.linux.seccomp = { defaultAction: "SCMP_ACT_ALLOW", listenerMetadata: "x" })],
  ["an unknown key in linux.seccomp", (c) => (c.linux.seccomp = { defaultAction: "SCMP_ACT_ALLOW", vendor: 1 })],
  ["linux.resources.cpu.cpus", (c) => (c.linux.resources.cpu = { cpus: "0" })],
  ["linux.resources.memory.swappiness", (c) => (c.linux.resources.memory = { swappiness: 10 })],
  ["linux.resources.blockIO", (c) => (c.linux.resources.blockIO = { weight: 10 })],
  ["linux.resources.hugepageLimits", (c) => (c.linux.resources.hugepageLimits = [])],
  ["linux.resources.unified", (c) => (c.linux.resources.unified = {})],
  ["linux.intelRdt", (c) => (c.linux.intelRdt = { closID: "x" })],
  ["linux.netDevices", (c) => (c.linux.netDevices = {})],
  ["linux.memoryPolicy", (c) => (c.linux.memoryPolicy = { mode: "MPOL_DEFAULT" })],
  ["linux.mountLabel empty", (c) => (c.linux.mountLabel = "")],
  ["an unknown top-level key", (c) => (c.vendorThing = 1)],
  ["an unknown key in process", (c) => (c.process.vendorThing = true)],
  ["an unknown key in a mount", (c) => (c.mounts[0].vendorThing = "x")],
  [
    "timeOffsets secs beyond 2^53",
    (c) => {
      c.linux.namespaces.push({ type: "time" });
      c.linux.timeOffsets = { boottime: { secs: 2 ** 60 } };
    },
  ],
  ["a device rule access node rewrites (rwmx)", (c) => c.linux.resources.devices.push({ allow: true, access: "rwmx" })],
  ["a device rule access node reorders (mr)", (c) => c.linux.resources.devices.push({ allow: true, access: "mr" })],
  ["a device rule of type x", (c) => c.linux.resources.devices.push({ allow: true, type: "x", access: "r" })],
  ["a device major beyond 2^53", (c) => (c.linux.devices = [{ path: "/dev/big", type: "c", major: 2 ** 60, minor: 1 }])],
];

/** Configs node rejects: the native builder must refuse every one (node then reports it). */
const REJECTED: [string, Edit][] = [
  ["seccomp without defaultAction", (c) => (c.linux.seccomp = { syscalls: [] })],
  ["seccomp: an unknown default action", (c) => (c.linux.seccomp = { defaultAction: "SCMP_ACT_NOPE" })],
  ["seccomp: SCMP_ACT_NOTIFY as the default", (c) => (c.linux.seccomp = { defaultAction: "SCMP_ACT_NOTIFY" })],
  ["seccomp: defaultErrnoRet 65536", (c) => (c.linux.seccomp = { defaultAction: "SCMP_ACT_ERRNO", defaultErrnoRet: 65536 })],
  ["seccomp: defaultErrnoRet 1.5", (c) => (c.linux.seccomp = { defaultAction: "SCMP_ACT_ERRNO", defaultErrnoRet: 1.5 })],
  [
    "seccomp: an unknown architecture",
    (c) => (c.linux.seccomp = { defaultAction: "SCMP_ACT_ALLOW", architectures: ["SCMP_ARCH_VAX"] }),
  ],
  [
    "seccomp: a big-endian architecture in an x86_64 filter",
    (c) => (c.linux.seccomp = { defaultAction: "SCMP_ACT_ALLOW", architectures: ["SCMP_ARCH_S390X"] }),
  ],
  [
    "seccomp: an unknown flag",
    (c) => (c.linux.seccomp = { defaultAction: "SCMP_ACT_ALLOW", flags: ["SECCOMP_FILTER_FLAG_NOPE"] }),
  ],
  [
    "seccomp: a rule without names",
    (c) => (c.linux.seccomp = { defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ action: "SCMP_ACT_ERRNO" }] }),
  ],
  [
    "seccomp: a rule with no names",
    (c) => (c.linux.seccomp = { defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: [], action: "SCMP_ACT_ERRNO" }] }),
  ],
  [
    "seccomp: an empty syscall name",
    (c) => (c.linux.seccomp = { defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: [""], action: "SCMP_ACT_ERRNO" }] }),
  ],
  [
    "seccomp: a rule without action",
    (c) => (c.linux.seccomp = { defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["mkdir"] }] }),
  ],
  [
    "seccomp: errnoRet 70000",
    (c) =>
      (c.linux.seccomp = {
        defaultAction: "SCMP_ACT_ALLOW",
        syscalls: [{ names: ["mkdir"], action: "SCMP_ACT_ERRNO", errnoRet: 70000 }],
      }),
  ],
  [
    "seccomp: arg index 6",
    (c) =>
      (c.linux.seccomp = {
        defaultAction: "SCMP_ACT_ALLOW",
        syscalls: [{ names: ["mkdir"], action: "SCMP_ACT_ERRNO", args: [{ index: 6, value: 0, op: "SCMP_CMP_EQ" }] }],
      }),
  ],
  [
    "seccomp: an unknown operator",
    (c) =>
      (c.linux.seccomp = {
        defaultAction: "SCMP_ACT_ALLOW",
        syscalls: [{ names: ["mkdir"], action: "SCMP_ACT_ERRNO", args: [{ index: 0, value: 0, op: "SCMP_CMP_NOPE" }] }],
      }),
  ],
  [
    "seccomp: arg value 2^64",
    (c) =>
      (c.linux.seccomp = {
        defaultAction: "SCMP_ACT_ALLOW",
        syscalls: [{ names: ["mkdir"], action: "SCMP_ACT_ERRNO", args: [{ index: 0, value: 2 ** 64, op: "SCMP_CMP_EQ" }] }],
      }),
  ],
  [
    "seccomp: a negative arg value",
    (c) =>
      (c.linux.seccomp = {
        defaultAction: "SCMP_ACT_ALLOW",
        syscalls: [{ names: ["mkdir"], action: "SCMP_ACT_ERRNO", args: [{ index: 0, value: -1, op: "SCMP_CMP_EQ" }] }],
      }),
  ],
  [
    "seccomp: an arg without op",
    (c) =>
      (c.linux.seccomp = {
        defaultAction: "SCMP_ACT_ALLOW",
        syscalls: [{ names: ["mkdir"], action: "SCMP_ACT_ERRNO", args: [{ index: 0, value: 1 }] }],
      }),
  ],
  [
    "seccomp: SCMP_ACT_NOTIFY without listenerPath",
    (c) => (c.linux.seccomp = { defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["mkdir"], action: "SCMP_ACT_NOTIFY" }] }),
  ],
  ["process.terminal without a console socket", (c) => (c.process.terminal = true)],
  ["consoleSize without width", (c) => (c.process.consoleSize = { height: 1 })],
  ["process.apparmorProfile", (c) => (c.process.apparmorProfile = "docker-default")],
  ["process.selinuxLabel", (c) => (c.process.selinuxLabel = "system_u:system_r:container_t:s0")],
  ["linux.mountLabel", (c) => (c.linux.mountLabel = "system_u:object_r:container_file_t:s0")],
  ["windows", (c) => (c.windows = {})],
  ["no process", (c) => delete c.process],
  ["empty args", (c) => (c.process.args = [])],
  ["no args", (c) => delete c.process.args],
  ["no cwd", (c) => delete c.process.cwd],
  ["a relative cwd", (c) => (c.process.cwd = "work")],
  ["env without =", (c) => c.process.env.push("NOEQUALS")],
  ["env starting with =", (c) => c.process.env.push("=x")],
  ["env not strings", (c) => c.process.env.push(1)],
  ["an unknown capability", (c) => c.process.capabilities.bounding.push("CAP_NOPE")],
  ["an unknown rlimit", (c) => c.process.rlimits.push({ type: "RLIMIT_NOPE", soft: 1, hard: 1 })],
  ["a duplicate rlimit", (c) => c.process.rlimits.push({ type: "RLIMIT_NOFILE", soft: 1, hard: 1 })],
  ["rlimit soft over hard", (c) => (c.process.rlimits = [{ type: "RLIMIT_NOFILE", soft: 2, hard: 1 }])],
  ["rlimit without hard", (c) => (c.process.rlimits = [{ type: "RLIMIT_NOFILE", soft: 2 }])],
  ["a negative rlimit", (c) => (c.process.rlimits = [{ type: "RLIMIT_NOFILE", soft: -1, hard: 1 }])],
  ["oomScoreAdj out of range", (c) => (c.process.oomScoreAdj = 1001)],
  ["oomScoreAdj a fraction", (c) => (c.process.oomScoreAdj = 1.5)],
  ["a negative uid", (c) => (c.process.user.uid = -1)],
  ["uid a string", (c) => (c.process.user.uid = "0")],
  ["terminal a string", (c) => (c.process.terminal = "false")],
  ["a null hostname", (c) => (c.hostname = null)],
  ["a relative mount destination", (c) => c.mounts.push({ destination: "tmp", type: "tmpfs" })],
  ["a mount without destination", (c) => c.mounts.push({ type: "tmpfs" })],
  ["an idmap mount option", (c) => c.mounts.push({ destination: "/d", type: "bind", source: "data", options: ["idmap"] })],
  [
    "mount uidMappings without gidMappings",
    (c) => c.mounts.push({ destination: "/d", type: "bind", source: "data", uidMappings: [] }),
  ],
  ["a bind mount without a source", (c) => c.mounts.push({ destination: "/d", type: "bind" })],
  ["a bind mount of a missing source", (c) => c.mounts.push({ destination: "/d", type: "bind", source: "nope" })],
  ["an unknown namespace type", (c) => c.linux.namespaces.push({ type: "nope" })],
  ["a duplicate namespace", (c) => c.linux.namespaces.push({ type: "pid" })],
  ["a relative namespace path", (c) => c.linux.namespaces.push({ type: "cgroup", path: "proc/1/ns/cgroup" })],
  ["an empty namespace path", (c) => c.linux.namespaces.push({ type: "cgroup", path: "" })],
  ["hostname without a uts namespace", (c) => (c.linux.namespaces = c.linux.namespaces.filter((n: Config) => n.type !== "uts"))],
  [
    "domainname without a uts namespace",
    (c) => {
      c.linux.namespaces = c.linux.namespaces.filter((n: Config) => n.type !== "uts");
      delete c.hostname;
      c.domainname = "d";
    },
  ],
  ["uidMappings without a user namespace", (c) => (c.linux.uidMappings = [{ containerID: 0, hostID: 1, size: 1 }])],
  ["a user namespace without mappings", (c) => c.linux.namespaces.push({ type: "user" })],
  [
    "a user namespace without gidMappings",
    (c) => {
      c.linux.namespaces.push({ type: "user" });
      c.linux.uidMappings = [{ containerID: 0, hostID: 1, size: 1 }];
    },
  ],
  [
    "an id mapping of size 0",
    (c) => {
      c.linux.namespaces.push({ type: "user" });
      c.linux.uidMappings = [{ containerID: 0, hostID: 1, size: 0 }];
      c.linux.gidMappings = [{ containerID: 0, hostID: 1, size: 1 }];
    },
  ],
  [
    "an id mapping without hostID",
    (c) => {
      c.linux.namespaces.push({ type: "user" });
      c.linux.uidMappings = [{ containerID: 0, size: 1 }];
      c.linux.gidMappings = [{ containerID: 0, hostID: 1, size: 1 }];
    },
  ],
  [
    "mappings with a joined user namespace",
    (c) => {
      c.linux.namespaces.push({ type: "user", path: "/proc/1/ns/user" });
      c.linux.uidMappings = [{ containerID: 0, hostID: 1, size: 1 }];
    },
  ],
  ["a sysctl in no namespace", (c) => (c.linux.sysctl = { "kernel.panic": "1" })],
  ["a sysctl that is no name", (c) => (c.linux.sysctl = { "net..x": "1" })],
  [
    "a net sysctl without a network namespace",
    (c) => {
      c.linux.namespaces = c.linux.namespaces.filter((n: Config) => n.type !== "network");
      c.linux.sysctl = { "net.ipv4.ip_forward": "1" };
    },
  ],
  ["a sysctl against the hostname", (c) => (c.linux.sysctl = { "kernel.hostname": "other" })],
  ["a sysctl value not a string", (c) => (c.linux.sysctl = { "net.ipv4.ip_forward": 1 })],
  ["a relative device path", (c) => (c.linux.devices = [{ path: "dev/x", type: "c", major: 1, minor: 1 }])],
  ["a char device without minor", (c) => (c.linux.devices = [{ path: "/dev/x", type: "c", major: 1 }])],
  ["a device of unknown type", (c) => (c.linux.devices = [{ path: "/dev/x", type: "z", major: 1, minor: 1 }])],
  ["a device fileMode over 0777", (c) => (c.linux.devices = [{ path: "/dev/x", type: "c", major: 1, minor: 1, fileMode: 4096 }])],
  ["a device rule without allow", (c) => c.linux.resources.devices.push({ access: "r" })],
  ["a relative masked path", (c) => c.linux.maskedPaths.push("proc/x")],
  ["a relative read-only path", (c) => c.linux.readonlyPaths.push("proc/x")],
  ["no root", (c) => delete c.root],
  ["an empty root.path", (c) => (c.root.path = "")],
  ["no ociVersion", (c) => delete c.ociVersion],
  ["a numeric ociVersion", (c) => (c.ociVersion = 1)],
  ["an annotation with an empty key", (c) => (c.annotations = { "": "x" })],
  ["an annotation that is no string", (c) => (c.annotations = { a: 1 })],
  ["a mount type that is no string", (c) => c.mounts.push({ destination: "/d", type: 5 })],
  ["cgroupsPath not a string", (c) => (c.linux.cgroupsPath = 5)],
  ["pids without a limit", (c) => (c.linux.resources.pids = {})],
  ["a relative hook path", (c) => (c.hooks = { poststop: [{ path: "bin/true" }] })],
  ["a hook without path", (c) => (c.hooks = { prestart: [{ args: [] }] })],
  ["a hook timeout of 0", (c) => (c.hooks = { prestart: [{ path: "/x", timeout: 0 }] })],
  ["hooks not an object", (c) => (c.hooks = [])],
  ["ioPriority over 7", (c) => (c.process.ioPriority = { class: "IOPRIO_CLASS_BE", priority: 8 })],
  ["ioPriority of an unknown class", (c) => (c.process.ioPriority = { class: "IOPRIO_CLASS_NOPE" })],
  ["ioPriority without class", (c) => (c.process.ioPriority = { priority: 1 })],
  ["scheduler nice 20", (c) => (c.process.scheduler = { policy: "SCHED_OTHER", nice: 20 })],
  ["scheduler of an unknown policy", (c) => (c.process.scheduler = { policy: "SCHED_NOPE" })],
  ["scheduler of an unknown flag", (c) => (c.process.scheduler = { policy: "SCHED_OTHER", flags: ["SCHED_FLAG_NOPE"] })],
  ["scheduler priority beyond int32", (c) => (c.process.scheduler = { policy: "SCHED_FIFO", priority: 2 ** 31 })],
  ["personality flags", (c) => (c.linux.personality = { domain: "LINUX", flags: ["ADDR_NO_RANDOMIZE"] })],
  ["personality without domain", (c) => (c.linux.personality = {})],
  ["personality of an unknown domain", (c) => (c.linux.personality = { domain: "BSD" })],
  ["an empty rootfsPropagation", (c) => (c.linux.rootfsPropagation = "")],
  ["an unknown rootfsPropagation", (c) => (c.linux.rootfsPropagation = "rbogus")],
  ["timeOffsets without a time namespace", (c) => (c.linux.timeOffsets = { monotonic: { secs: 1 } })],
  [
    "timeOffsets with a joined time namespace",
    (c) => {
      c.linux.namespaces.push({ type: "time", path: "/proc/1/ns/time" });
      c.linux.timeOffsets = {};
    },
  ],
  [
    "timeOffsets of an unknown clock",
    (c) => {
      c.linux.namespaces.push({ type: "time" });
      c.linux.timeOffsets = { realtime: { secs: 1 } };
    },
  ],
  [
    "timeOffsets nanosecs negative",
    (c) => {
      c.linux.namespaces.push({ type: "time" });
      c.linux.timeOffsets = { monotonic: { nanosecs: -1 } };
    },
  ],
  ["no mount namespace with masked paths", (c) => (c.linux.namespaces = [{ type: "uts" }])],
  [
    "no mount namespace with a read-only root",
    (c) => {
      c.linux.namespaces = [{ type: "uts" }];
      c.linux.maskedPaths = [];
      c.linux.readonlyPaths = [];
    },
  ],
  [
    "no mount namespace with a rootfsPropagation",
    (c) => {
      c.linux.namespaces = [{ type: "uts" }];
      c.linux.maskedPaths = [];
      c.linux.readonlyPaths = [];
      c.root.readonly = false;
      c.linux.rootfsPropagation = "slave";
    },
  ],
  ["cpu.shares negative", (c) => (c.linux.resources.cpu = { shares: -2 })],
  ["memory.limit a string", (c) => (c.linux.resources.memory = { limit: "1G" })],
];

/** A config built from pools of values for each field: valid ones, edge cases and mistakes. */
function randomConfig(r: () => number): { config: Config; input: Partial<PlanInput> } {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const some = <T>(xs: readonly T[], max = xs.length): T[] => Array.from({ length: Math.floor(r() * (max + 1)) }, () => pick(xs));
  // Half the configs change few fields, so that enough of them are valid to compare bytes.
  const scale = r() < 0.5 ? 0.3 : 1;
  const maybe = (p = 0.5) => r() < p * scale;
  const c = bench();
  const p = c.process;
  if (maybe(0.3))
    p.user = {
      uid: pick([0, 1000, 65534, 4294967295, 1.5, -1, "0"]),
      gid: pick([0, 5, 1e3]),
      ...(maybe() ? { additionalGids: some([0, 1, 27, 4294967295, -0], 3) } : {}),
      ...(maybe(0.3) ? { umask: pick([0, 18, 63, 511, -1]) } : {}),
    };
  if (maybe(0.2)) p.cwd = pick(["/tmp", "/a/../b/", "//", "rel", "", "/work"]);
  if (maybe(0.4)) p.env = some(["PATH=/bin", "PATH=", "HOME=", "HOME=/h", "A=1", "B=x=y", "=x", "NOEQ", "TERM=xterm", "é=ü"], 4);
  if (maybe(0.1)) p.args = pick([[], ["a", "b c"], ["/bin/sh", "-c", "true"], [1]]);
  if (maybe(0.3)) {
    const caps = ["CAP_CHOWN", "CAP_KILL", "CAP_SYS_ADMIN", "CAP_NET_RAW", "CAP_CHECKPOINT_RESTORE", "CAP_NOPE"];
    p.capabilities = maybe(0.2)
      ? {}
      : Object.fromEntries(
          some(["bounding", "effective", "inheritable", "permitted", "ambient"], 5).map((k) => [k, some(caps, 3)]),
        );
  }
  if (maybe(0.3))
    p.rlimits = some(
      [
        { type: "RLIMIT_NOFILE", soft: 1024, hard: 4096 },
        { type: "RLIMIT_CORE", soft: 0, hard: 2 ** 64 },
        { type: "RLIMIT_NPROC", soft: 2 ** 53 + 2, hard: 1e19 },
        { type: "RLIMIT_AS", soft: 2, hard: 1 },
        { type: "RLIMIT_NOPE", soft: 1, hard: 1 },
        { type: "RLIMIT_STACK", soft: 1.5, hard: 2 },
      ],
      3,
    );
  if (maybe(0.2)) p.oomScoreAdj = pick([0, -1000, 1000, 1001, 2.5, -17]);
  if (maybe(0.2)) p.noNewPrivileges = pick([false, true, "yes"]);
  if (r() < 0.3) p.terminal = pick([true, false, null]);
  if (maybe(0.2)) c.hostname = pick(["", "h", 5, undefined]);
  if (maybe(0.2)) c.domainname = pick(["", "example.org"]);
  if (maybe(0.2)) c.root.readonly = pick([false, true, 1]);
  if (maybe(0.3)) {
    const types = ["pid", "network", "ipc", "uts", "mount", "cgroup", "user", "time", "nope"];
    c.linux.namespaces = some(types, 6).map((type) =>
      maybe(0.3) ? { type, path: pick([`/proc/1/ns/${type}`, "", "rel"]) } : { type },
    );
  }
  if (maybe(0.4)) {
    const options = [
      "ro",
      "rw",
      "nosuid",
      "nodev",
      "noexec",
      "rbind",
      "bind",
      "rprivate",
      "rslave",
      "shared",
      "rro",
      "rnoatime",
      "relatime",
      "mode=700",
      "size=1m",
      "",
      "idmap",
      "tmpcopyup",
    ];
    const mounts: Config[] = [
      { destination: "/data", type: "bind", source: "data" },
      { destination: "/file", type: "none", source: join(bundle, "passwd") },
      { destination: "/etc/passwd", source: "passwd", options: ["bind"] },
      { destination: "/tmp", type: "tmpfs" },
      { destination: "/run/x/", type: "tmpfs", source: "tmpfs" },
      { destination: "/dev", type: "tmpfs" },
      { destination: "/sys/fs/cgroup", type: "cgroup" },
      { destination: "/cg", type: "cgroup2" },
      { destination: "/m", type: "mqueue", source: "mqueue" },
      { destination: "/gone", type: "bind", source: "missing" },
      { destination: "rel", type: "tmpfs" },
      { destination: "/x" },
    ];
    for (const m of some(mounts, 3)) c.mounts.push(maybe() ? { ...m, options: some(options, 4) } : { ...m });
  }
  // Odd paths: node's path.posix normalises destinations, device paths and bind sources.
  const segment = () => pick(["", ".", "..", "...", "a", "b.", "..c", "data", "dev"]);
  const oddPath = (absolute: boolean) =>
    (absolute ? "/" : "") + Array.from({ length: 1 + Math.floor(r() * 4) }, segment).join("/") + (maybe() ? "/" : "");
  if (maybe(0.3))
    c.mounts.push({
      destination: oddPath(true),
      type: pick(["tmpfs", "bind"]),
      source: pick(["data", "./data/", oddPath(false), `${bundle}/${oddPath(false)}`]),
    });
  if (maybe(0.15)) (c.linux.devices ??= []).push({ path: oddPath(true), type: "c", major: 1, minor: 7 });
  if (maybe(0.2))
    c.linux.devices = some(
      [
        { path: "/dev/fuse", type: "c", major: 10, minor: 229 },
        { path: "/dev/null", type: "c", major: 1, minor: 3, fileMode: 384 },
        { path: "/dev/x/", type: "b", major: 7, minor: 0, uid: 1, gid: 2 },
        { path: "/dev/p", type: "p" },
        { path: "/dev/q", type: "c", major: 1 },
        { path: "dev/r", type: "c", major: 1, minor: 1 },
        { path: "/dev/ptmx", type: "c", major: 5, minor: 2 },
      ],
      3,
    );
  if (maybe(0.2))
    c.linux.sysctl = Object.fromEntries(
      some(
        [
          ["net.ipv4.ip_forward", "1"],
          ["kernel.shmmax", "1"],
          ["kernel.hostname", pick(["runc", "other"])],
          ["kernel.panic", "1"],
          ["fs.mqueue.msg_max", "5"],
          ["net..x", "1"],
        ] as const,
        2,
      ),
    );
  if (maybe(0.2)) c.linux.maskedPaths = some(["/proc/kcore", "/sys/firmware", "rel"], 2);
  if (maybe(0.2)) c.linux.readonlyPaths = some(["/proc/sys", "rel"], 2);
  if (maybe(0.2))
    c.linux.resources = pick([
      {},
      { devices: [] },
      { cpu: { shares: 2 } },
      { memory: { limit: -1 } },
      { pids: {} },
      { devices: [{ allow: true, access: "rwx" }] },
      { blockIO: {} },
    ]);
  if (maybe(0.1))
    c.hooks = pick([
      {},
      { prestart: [{ path: "/h" }] },
      { poststop: [{ path: "h" }] },
      { createRuntime: [{ path: "/h", timeout: 0 }] },
      { x: [] },
    ]);
  if (maybe(0.05))
    Object.assign(c, pick([{ vendor: 1 }, { linux: { ...c.linux, seccomp: { defaultAction: "SCMP_ACT_ALLOW" } } }]));
  if (maybe(0.1))
    p.ioPriority = pick([
      { class: "IOPRIO_CLASS_BE", priority: 4 },
      { class: "IOPRIO_CLASS_RT" },
      { class: "X" },
      { class: "IOPRIO_CLASS_IDLE", priority: 9 },
    ]);
  if (maybe(0.1))
    p.scheduler = pick([
      { policy: "SCHED_RR", priority: 5 },
      { policy: "SCHED_OTHER", nice: 19, flags: ["SCHED_FLAG_KEEP_POLICY"] },
      { policy: "SCHED_OTHER", nice: -21 },
      { policy: "SCHED_X" },
    ]);
  if (maybe(0.15)) {
    const maps = () => pick([[{ containerID: 0, hostID: 100000, size: 65536 }], [], [{ containerID: 0, hostID: 1, size: 0 }]]);
    if (maybe()) c.linux.uidMappings = maps();
    if (maybe()) c.linux.gidMappings = maps();
    if (maybe()) (c.linux.namespaces ??= []).push(pick([{ type: "user" }, { type: "user", path: "/proc/1/ns/user" }]));
  }
  if (maybe(0.1))
    c.linux.personality = pick([{ domain: "LINUX" }, { domain: "LINUX32", flags: [] }, { domain: "X" }, { flags: ["A"] }]);
  if (maybe(0.1)) c.linux.rootfsPropagation = pick(["private", "rslave", "shared", "rprivate", "unbindable", "bad", ""]);
  if (maybe(0.1))
    c.linux.timeOffsets = pick([
      {},
      { monotonic: { secs: 3 } },
      { boottime: { secs: -1, nanosecs: 5 }, monotonic: { nanosecs: 1 } },
      { realtime: {} },
    ]);
  if (maybe(0.1)) p.consoleSize = pick([{ height: 24, width: 80 }, { height: 0, width: 0 }, { height: 1 }]);
  const input: Partial<PlanInput> = {
    cgroupPaths: pick([V1_CGROUPS, V2_CGROUPS, []]),
    noPivot: maybe(0.2),
    keyring: maybe(0.8) ? "_ses.t" : undefined,
    mode: r() < 0.3 ? "wait" : "detach",
    consoleSocket: r() < 0.2 ? "/run/console.sock" : undefined,
  };
  if (maybe(0.3)) c.linux.seccomp = randomSeccomp(r);
  return { config: c, input };
}

describe("native init plan", () => {
  beforeAll(() => {
    work = mkdtempSync(join(process.env.TMPDIR ?? tmpdir(), "plan-"));
    bundle = join(work, "bundle");
    rootfs = join(bundle, "rootfs");
    mkdirSync(join(rootfs, "etc"), { recursive: true });
    mkdirSync(join(bundle, "data"));
    mkdirSync(join(work, "state"));
    symlinkSync(join(bundle, "data"), join(bundle, "link-to-data"));
    writeFileSync(join(rootfs, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\nu:x:1000:1000::/home/u:/bin/sh\nodd:x::1:::\n");
    writeFileSync(join(bundle, "passwd"), "root:x:0:0::/bound-root:/bin/sh\n");
    for (const f of ["hostname", "hosts", "resolv.conf"]) writeFileSync(join(bundle, f), "");
    mkdirSync(join(bundle, "shm"));
    // PLAN_DUMP_BIN: a plan-dump built otherwise (e.g. with -fsanitize=address,undefined).
    dumper = process.env.PLAN_DUMP_BIN ?? join(work, "plan-dump");
    if (process.env.PLAN_DUMP_BIN) return;
    const { cflags, ldflags } = launcherFlags();
    const sqlite = join(REPO, "node_modules", "better-sqlite3", "deps", "sqlite3");
    const sources = PLAN_SOURCES.map((s) => join(REPO, "native", "launcher", `${s}.c`));
    execFileSync("cc", [...cflags, `-I${sqlite}`, ...sources, SQLITE_LIB, ...ldflags, "-o", dumper], { stdio: "pipe" });
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it.each(SAME)("%s: the same bytes as node", async (_name, config, extra) => {
    const inp = input(extra);
    const text = JSON.stringify(config(), null, 2);
    const expected = await nodePlan(text, inp);
    if (expected instanceof Error) throw expected;
    const { plan, why } = nativePlan(text, inp);
    expect(why).toBe("");
    expect(plan!.equals(expected)).toBe(true);
  });

  /**
   * Configs from `make` (seeded), each planned by node and by the native builder: node's
   * rejections must be refused, everything accepted must be the same bytes. Both sides must be
   * exercised, or the test could pass by refusing everything.
   */
  async function checkCorpus(count: number, make: () => { config: unknown; input: ReturnType<typeof input> }): Promise<void> {
    let accepted = 0;
    let rejected = 0;
    for (let i = 0; i < count; i++) {
      const { config, input: inp } = make();
      const text = JSON.stringify(config);
      const expected = await nodePlan(text, inp);
      const { plan, why } = nativePlan(text, inp);
      if (expected instanceof Error) {
        rejected++;
        expect(plan, `case ${i}: node rejects it (${expected.message}), the native builder accepted it: ${text}`).toBeNull();
      } else if (plan) {
        accepted++;
        expect(plan.equals(expected), `case ${i}: different bytes for ${text}`).toBe(true);
      } else {
        expect(why).toMatch(/^refused: /);
      }
    }
    if (process.env.PLAN_COUNT) console.log({ accepted, rejected, count });
    expect(accepted).toBeGreaterThan(count / 10);
    expect(rejected).toBeGreaterThan(count / 10);
  }

  it("a random corpus: node's rejections refused, everything accepted byte for byte", async () => {
    const r = seeded(Number(process.env.PLAN_SEED ?? 13));
    await checkCorpus(Number(process.env.PLAN_COUNT ?? 400), () => {
      const { config, input: extra } = randomConfig(r);
      return { config, input: input(extra) };
    });
  }, 300_000); // a few seconds; longer runs (PLAN_COUNT) and a loaded machine take more

  it("random seccomp profiles on the bench config: node's rejections refused, the rest byte for byte", async () => {
    const r = seeded(Number(process.env.PLAN_SEED ?? 13));
    await checkCorpus(Number(process.env.PLAN_COUNT ?? 200), () => {
      const config = bench();
      config.linux.seccomp = randomSeccomp(r);
      if (r() < 0.3) config.process.noNewPrivileges = false;
      return { config, input: input() };
    });
  }, 300_000);

  it.each(SAME_TEXT)("%s: the same bytes as node", async (_name, text) => {
    const inp = input();
    const expected = await nodePlan(text(), inp);
    if (expected instanceof Error) throw expected;
    const { plan, why } = nativePlan(text(), inp);
    expect(why).toBe("");
    expect(plan!.equals(expected)).toBe(true);
  });

  it.each(REFUSED_TEXT)("%s: node reads it, the native builder refuses", async (_name, text) => {
    const t = text();
    expect(await nodePlan(typeof t === "string" ? t : t.toString("utf8"), input())).toBeInstanceOf(Buffer);
    expect(nativePlan(text(), input()).plan).toBeNull();
  });

  it.each(REJECTED_TEXT)("%s: node rejects it, the native builder refuses", async (_name, text) => {
    expect(await nodePlan(text(), input())).toBeInstanceOf(Error);
    expect(nativePlan(text(), input()).plan).toBeNull();
  });

  it.each(REFUSED)("%s: handed to node", async (_name, f) => {
    const text = JSON.stringify(edit(bench, f)());
    expect(nativePlan(text, input()).plan).toBeNull();
  });

  /** Configs node rejects for what the caller passes along (a console socket, --no-pivot). */
  const REJECTED_WITH_INPUT: [string, Edit, Partial<PlanInput>][] = [
    ["a console socket without a terminal", () => undefined, { consoleSocket: "/s" }],
    ["a console socket in a foreground run", (c) => (c.process.terminal = true), { consoleSocket: "/s", mode: "wait" }],
    ["a private rootfsPropagation with --no-pivot", (c) => (c.linux.rootfsPropagation = "rprivate"), { noPivot: true }],
  ];

  it.each(REJECTED_WITH_INPUT)("%s: node rejects it, the native builder refuses", async (_name, f, extra) => {
    const text = JSON.stringify(edit(bench, f)());
    const inp = input(extra);
    expect(await nodePlan(text, inp)).toBeInstanceOf(Error);
    expect(nativePlan(text, inp).plan).toBeNull();
  });

  it.each(REJECTED)("%s: node rejects it, the native builder refuses", async (_name, f) => {
    const text = JSON.stringify(edit(bench, f)());
    expect(await nodePlan(text, input())).toBeInstanceOf(Error);
    expect(nativePlan(text, input()).plan).toBeNull();
  });
});

/** A random linux.seccomp: valid and invalid pieces of every kind (libseccomp compiles it on both sides). */
function randomSeccomp(r: () => number): Config {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const some = <T>(xs: readonly T[], max = xs.length): T[] => Array.from({ length: Math.floor(r() * (max + 1)) }, () => pick(xs));
  const maybe = (p = 0.5) => r() < p;
  const actions = [
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_TRAP",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
    "SCMP_ACT_NOPE",
  ];
  const names = ["read", "write", "mkdir", "openat2", "clone3", "socketcall", "no_such_syscall", "", "personality"];
  const ops = [
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
    "SCMP_CMP_NOPE",
  ];
  const arg = () => ({
    index: pick([0, 1, 2, 5, 6, -1, 1.5]),
    value: pick([0, 8, 4294967295, 2 ** 53 + 2, 2 ** 64, -1]),
    ...(maybe(0.3) ? { valueTwo: pick([0, 255, 2 ** 63]) } : {}),
    op: pick(ops),
  });
  return {
    defaultAction: pick(actions.slice(0, 7)),
    ...(maybe(0.3) ? { defaultErrnoRet: pick([1, 38, 65535, 65536, 2.5]) } : {}),
    ...(maybe(0.3)
      ? {
          architectures: some(
            ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64", "SCMP_ARCH_S390X", "SCMP_ARCH_NOPE"],
            3,
          ),
        }
      : {}),
    ...(maybe(0.2)
      ? {
          flags: some(
            [
              "SECCOMP_FILTER_FLAG_TSYNC",
              "SECCOMP_FILTER_FLAG_LOG",
              "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
              "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
              "SECCOMP_FILTER_FLAG_NOPE",
            ],
            2,
          ),
        }
      : {}),
    ...(maybe(0.1) ? { listenerPath: "/run/agent.sock" } : {}),
    syscalls: Array.from({ length: Math.floor(r() * 4) }, () => ({
      names: some(names, 3),
      action: pick(actions),
      ...(maybe(0.3) ? { errnoRet: pick([0, 13, 65535, 70000]) } : {}),
      ...(maybe(0.4) ? { args: Array.from({ length: Math.floor(r() * 3) }, arg) } : {}),
    })),
  };
}
