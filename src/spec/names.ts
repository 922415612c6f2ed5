// The name tables of config.json, in one place: semantic checks (src/spec/semantic.ts), the
// features document (src/spec/features.ts) and the plan builders (src/linux/*) all read these, so
// "known to validation" and "implemented" cannot drift apart. Define a table here and nowhere
// else; the seccomp ones live in src/seccomp/names.ts and are re-exported below.
// Numbers are the Linux x86_64/generic UAPI values.

import type { NamespaceType } from "./types.js";

/** Capability name -> bit number (linux/capability.h), CAP_CHOWN..CAP_CHECKPOINT_RESTORE. */
export const CAPABILITIES: Readonly<Record<string, number>> = Object.freeze({
  CAP_CHOWN: 0,
  CAP_DAC_OVERRIDE: 1,
  CAP_DAC_READ_SEARCH: 2,
  CAP_FOWNER: 3,
  CAP_FSETID: 4,
  CAP_KILL: 5,
  CAP_SETGID: 6,
  CAP_SETUID: 7,
  CAP_SETPCAP: 8,
  CAP_LINUX_IMMUTABLE: 9,
  CAP_NET_BIND_SERVICE: 10,
  CAP_NET_BROADCAST: 11,
  CAP_NET_ADMIN: 12,
  CAP_NET_RAW: 13,
  CAP_IPC_LOCK: 14,
  CAP_IPC_OWNER: 15,
  CAP_SYS_MODULE: 16,
  CAP_SYS_RAWIO: 17,
  CAP_SYS_CHROOT: 18,
  CAP_SYS_PTRACE: 19,
  CAP_SYS_PACCT: 20,
  CAP_SYS_ADMIN: 21,
  CAP_SYS_BOOT: 22,
  CAP_SYS_NICE: 23,
  CAP_SYS_RESOURCE: 24,
  CAP_SYS_TIME: 25,
  CAP_SYS_TTY_CONFIG: 26,
  CAP_MKNOD: 27,
  CAP_LEASE: 28,
  CAP_AUDIT_WRITE: 29,
  CAP_AUDIT_CONTROL: 30,
  CAP_SETFCAP: 31,
  CAP_MAC_OVERRIDE: 32,
  CAP_MAC_ADMIN: 33,
  CAP_SYSLOG: 34,
  CAP_WAKE_ALARM: 35,
  CAP_BLOCK_SUSPEND: 36,
  CAP_AUDIT_READ: 37,
  CAP_PERFMON: 38,
  CAP_BPF: 39,
  CAP_CHECKPOINT_RESTORE: 40,
});

/** The capability sets of process.capabilities. */
export const CAPABILITY_SETS = ["bounding", "effective", "inheritable", "permitted", "ambient"] as const;

/** rlimit name -> resource number (asm-generic/resource.h). */
export const RLIMITS: Readonly<Record<string, number>> = Object.freeze({
  RLIMIT_CPU: 0,
  RLIMIT_FSIZE: 1,
  RLIMIT_DATA: 2,
  RLIMIT_STACK: 3,
  RLIMIT_CORE: 4,
  RLIMIT_RSS: 5,
  RLIMIT_NPROC: 6,
  RLIMIT_NOFILE: 7,
  RLIMIT_MEMLOCK: 8,
  RLIMIT_AS: 9,
  RLIMIT_LOCKS: 10,
  RLIMIT_SIGPENDING: 11,
  RLIMIT_MSGQUEUE: 12,
  RLIMIT_NICE: 13,
  RLIMIT_RTPRIO: 14,
  RLIMIT_RTTIME: 15,
});

/** Namespace type (config.json spelling) -> CLONE_NEW* flag (linux/sched.h). CLONE_NEWTIME shares
 * its bit with CSIGNAL for clone(2), so a new time namespace is made by the TIMENS op (unshare),
 * never through CLONE's flags (see cloneFlags in src/linux/namespaces.ts). */
export const NAMESPACE_TYPES: Readonly<Record<NamespaceType, number>> = Object.freeze({
  mount: 0x00020000, // CLONE_NEWNS
  uts: 0x04000000,
  ipc: 0x08000000,
  user: 0x10000000,
  pid: 0x20000000,
  network: 0x40000000,
  cgroup: 0x02000000,
  time: 0x00000080,
});

/** The name of the namespace in /proc/<pid>/ns/ (differs for mount and network). */
export const NAMESPACE_PROC_NAMES: Readonly<Record<NamespaceType, string>> = Object.freeze({
  mount: "mnt",
  uts: "uts",
  ipc: "ipc",
  user: "user",
  pid: "pid",
  network: "net",
  cgroup: "cgroup",
  time: "time",
});

/** process.ioPriority.class -> IOPRIO_CLASS_* value. */
export const IOPRIO_CLASSES: Readonly<Record<string, number>> = Object.freeze({
  IOPRIO_CLASS_RT: 1,
  IOPRIO_CLASS_BE: 2,
  IOPRIO_CLASS_IDLE: 3,
});

/** process.scheduler.policy -> SCHED_* value. SCHED_ISO is reserved by the kernel (never implemented). */
export const SCHED_POLICIES: Readonly<Record<string, number>> = Object.freeze({
  SCHED_OTHER: 0,
  SCHED_FIFO: 1,
  SCHED_RR: 2,
  SCHED_BATCH: 3,
  SCHED_ISO: 4,
  SCHED_IDLE: 5,
  SCHED_DEADLINE: 6,
});

/** process.scheduler.flags -> sched_attr.sched_flags bit. */
export const SCHED_FLAGS: Readonly<Record<string, number>> = Object.freeze({
  SCHED_FLAG_RESET_ON_FORK: 0x01,
  SCHED_FLAG_RECLAIM: 0x02,
  SCHED_FLAG_DL_OVERRUN: 0x04,
  SCHED_FLAG_KEEP_POLICY: 0x08,
  SCHED_FLAG_KEEP_PARAMS: 0x10,
  SCHED_FLAG_UTIL_CLAMP_MIN: 0x20,
  SCHED_FLAG_UTIL_CLAMP_MAX: 0x40,
});

/** linux.personality.domain -> personality(2) persona. */
export const PERSONALITY_DOMAINS: Readonly<Record<string, number>> = Object.freeze({
  LINUX: 0x0000,
  LINUX32: 0x0008, // PER_LINUX32
});

/** linux.rootfsPropagation values. */
// The spec names four; runc also takes the recursive forms, and bundles written for runc use them.
export const ROOTFS_PROPAGATIONS = [
  "private",
  "shared",
  "slave",
  "unbindable",
  "rprivate",
  "rshared",
  "rslave",
  "runbindable",
] as const;

/** linux.timeOffsets keys (the clocks a time namespace can offset). */
export const TIME_OFFSET_CLOCKS = ["monotonic", "boottime"] as const;

/** The hooks polis runs, in lifecycle order. */
export const HOOK_NAMES = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"] as const;

// ---- mount options -------------------------------------------------------------------------

/** mount(2) flags (linux/mount.h). */
export const MS = Object.freeze({
  RDONLY: 0x1,
  NOSUID: 0x2,
  NODEV: 0x4,
  NOEXEC: 0x8,
  SYNCHRONOUS: 0x10,
  REMOUNT: 0x20,
  MANDLOCK: 0x40,
  DIRSYNC: 0x80,
  NOSYMFOLLOW: 0x100,
  NOATIME: 0x400,
  NODIRATIME: 0x800,
  BIND: 0x1000,
  MOVE: 0x2000,
  REC: 0x4000,
  SILENT: 0x8000,
  POSIXACL: 0x10000,
  UNBINDABLE: 0x20000,
  PRIVATE: 0x40000,
  SLAVE: 0x80000,
  SHARED: 0x100000,
  RELATIME: 0x200000,
  I_VERSION: 0x800000,
  STRICTATIME: 0x1000000,
  LAZYTIME: 0x2000000,
});

/** mount_setattr(2) attributes (linux/mount.h), for the recursive `r*` options and idmap. */
export const MOUNT_ATTR = Object.freeze({
  RDONLY: 0x1,
  NOSUID: 0x2,
  NODEV: 0x4,
  NOEXEC: 0x8,
  _ATIME: 0x70, // the mask of the three atime modes below
  RELATIME: 0x0,
  NOATIME: 0x10,
  STRICTATIME: 0x20,
  NODIRATIME: 0x80,
  IDMAP: 0x100000,
  NOSYMFOLLOW: 0x200000,
});

/** An option that sets or clears mount(2) flags. */
export interface FlagOption {
  kind: "flag";
  /** true: clear `flag` instead of setting it (`rw`, `suid`, `atime`, …) */
  clear: boolean;
  flag: number;
}

/** A propagation change, applied with a separate mount(2) call after the mount itself. */
export interface PropagationOption {
  kind: "propagation";
  flag: number; // MS_PRIVATE etc., with MS_REC for the r* forms
}

/** A recursive attribute change, applied with mount_setattr(AT_RECURSIVE). */
export interface RecursiveOption {
  kind: "recursive";
  /** true: clear `attr`, false: set it */
  clear: boolean;
  attr: number;
  /** for the atime modes: MOUNT_ATTR__ATIME must also be cleared before setting the new mode */
  atime?: boolean;
}

/** Options that are not flags: bind mounts and runtime extensions. */
export interface ExtensionOption {
  kind: "extension";
  name: "bind" | "rbind" | "idmap" | "ridmap" | "tmpcopyup";
}

export type MountOption = FlagOption | PropagationOption | RecursiveOption | ExtensionOption;

const set = (flag: number): FlagOption => ({ kind: "flag", clear: false, flag });
const clr = (flag: number): FlagOption => ({ kind: "flag", clear: true, flag });
const prop = (flag: number): PropagationOption => ({ kind: "propagation", flag });
const rset = (attr: number, atime = false): RecursiveOption => ({ kind: "recursive", clear: false, attr, atime });
const rclr = (attr: number, atime = false): RecursiveOption => ({ kind: "recursive", clear: true, attr, atime });
const ext = (name: ExtensionOption["name"]): ExtensionOption => ({ kind: "extension", name });

/**
 * Every mount option polis (like runc) knows by name. Anything else in mounts[].options is
 * filesystem data (`mode=755`, `size=64k`) and is passed to mount(2) as the data string.
 */
export const MOUNT_OPTIONS: Readonly<Record<string, MountOption>> = Object.freeze({
  // flags
  defaults: set(0),
  ro: set(MS.RDONLY),
  rw: clr(MS.RDONLY),
  suid: clr(MS.NOSUID),
  nosuid: set(MS.NOSUID),
  dev: clr(MS.NODEV),
  nodev: set(MS.NODEV),
  exec: clr(MS.NOEXEC),
  noexec: set(MS.NOEXEC),
  sync: set(MS.SYNCHRONOUS),
  async: clr(MS.SYNCHRONOUS),
  dirsync: set(MS.DIRSYNC),
  remount: set(MS.REMOUNT),
  mand: set(MS.MANDLOCK),
  nomand: clr(MS.MANDLOCK),
  atime: clr(MS.NOATIME),
  noatime: set(MS.NOATIME),
  diratime: clr(MS.NODIRATIME),
  nodiratime: set(MS.NODIRATIME),
  relatime: set(MS.RELATIME),
  norelatime: clr(MS.RELATIME),
  strictatime: set(MS.STRICTATIME),
  nostrictatime: clr(MS.STRICTATIME),
  lazytime: set(MS.LAZYTIME),
  nolazytime: clr(MS.LAZYTIME),
  acl: set(MS.POSIXACL),
  noacl: clr(MS.POSIXACL),
  iversion: set(MS.I_VERSION),
  noiversion: clr(MS.I_VERSION),
  silent: set(MS.SILENT),
  loud: clr(MS.SILENT),
  symfollow: clr(MS.NOSYMFOLLOW),
  nosymfollow: set(MS.NOSYMFOLLOW),
  // propagation
  private: prop(MS.PRIVATE),
  rprivate: prop(MS.PRIVATE | MS.REC),
  shared: prop(MS.SHARED),
  rshared: prop(MS.SHARED | MS.REC),
  slave: prop(MS.SLAVE),
  rslave: prop(MS.SLAVE | MS.REC),
  unbindable: prop(MS.UNBINDABLE),
  runbindable: prop(MS.UNBINDABLE | MS.REC),
  // recursive attributes (mount_setattr)
  rro: rset(MOUNT_ATTR.RDONLY),
  rrw: rclr(MOUNT_ATTR.RDONLY),
  rnosuid: rset(MOUNT_ATTR.NOSUID),
  rsuid: rclr(MOUNT_ATTR.NOSUID),
  rnodev: rset(MOUNT_ATTR.NODEV),
  rdev: rclr(MOUNT_ATTR.NODEV),
  rnoexec: rset(MOUNT_ATTR.NOEXEC),
  rexec: rclr(MOUNT_ATTR.NOEXEC),
  rnodiratime: rset(MOUNT_ATTR.NODIRATIME),
  rdiratime: rclr(MOUNT_ATTR.NODIRATIME),
  rrelatime: rset(MOUNT_ATTR.RELATIME, true),
  rnorelatime: rclr(MOUNT_ATTR.RELATIME, true),
  rnoatime: rset(MOUNT_ATTR.NOATIME, true),
  ratime: rclr(MOUNT_ATTR.NOATIME, true),
  rstrictatime: rset(MOUNT_ATTR.STRICTATIME, true),
  rnostrictatime: rclr(MOUNT_ATTR.STRICTATIME, true),
  rnosymfollow: rset(MOUNT_ATTR.NOSYMFOLLOW),
  rsymfollow: rclr(MOUNT_ATTR.NOSYMFOLLOW),
  // bind mounts and extensions
  bind: ext("bind"),
  rbind: ext("rbind"),
  idmap: ext("idmap"),
  ridmap: ext("ridmap"),
  tmpcopyup: ext("tmpcopyup"),
});

// ---- seccomp -------------------------------------------------------------------------------
// Defined in src/seccomp/names.ts (a pure table file: importing it loads no libseccomp).

export {
  ACTIONS as SECCOMP_ACTIONS,
  ARCHITECTURES as SECCOMP_ARCHS,
  FLAGS as SECCOMP_FLAGS,
  OPERATORS as SECCOMP_OPERATORS,
} from "../seccomp/names.js";
