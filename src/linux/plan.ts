// A plan is the flat program the C shim runs (see native/PROTOCOL.md).
// Every op remembers which config.json field it came from, so that a failure the shim reports as
// {step, errno} can be told to the user as "mounts[3]: mount /proc: no such device (ENODEV)".

export enum OpCode {
  END = 0,
  SETNS = 1,
  CGROUP_JOIN = 2,
  TIMENS = 3,
  CONSOLE_SOCKET = 4,
  CLONE = 5,
  SETSID = 6,
  BECOME_ROOT = 7,
  MOUNT = 8,
  MKDIRS = 9,
  MOUNT_SETATTR = 10,
  MKNOD = 11,
  SYMLINK = 12,
  PAUSE = 13,
  PIVOT_ROOT = 14,
  MOVE_ROOT = 15,
  MASK = 16,
  READONLY = 17,
  WRITE_FILE = 18,
  SETHOSTNAME = 19,
  SETDOMAINNAME = 20,
  CONSOLE = 21,
  RLIMIT = 22,
  IOPRIO = 23,
  SCHED = 24,
  PERSONALITY = 25,
  NO_NEW_PRIVS = 26,
  CAP_BOUNDING = 27,
  USER = 28,
  CAPS = 29,
  CAP_AMBIENT = 30,
  CHDIR = 31,
  FIND_EXEC = 32,
  FIFO_OPEN = 33,
  READY = 34,
  FIFO_WAIT = 35,
  SECCOMP = 36,
  EXEC = 37,
  NEW_KEYRING = 38,
  SECCOMP_LISTENER = 39,
  CONSOLE_PAIR = 40,
  MKFIFO = 41,
  PARENT_CGROUPS = 42,
  LOOPBACK_UP = 43,
  MASK_SOURCE = 44,
  // 45-49 are free (two branches added ops at the same time)
  CHROOT = 50,
  UMOUNT = 51,
  MOUNT_KEEP_MODE = 52,
  OPEN_TREE = 53,
  MOVE_MOUNT = 54,
}

/** One argument on the wire: text, a number (sent in decimal), or raw bytes (a BPF program). */
export type Arg = string | number | bigint | Buffer;
/** An integer argument: sent as a decimal string; helpers may hand one over already formatted. */
export type Int = number | bigint | `${bigint}`;
/** A 64-bit mask (capabilities), "0x…". */
export type Mask = `0x${string}`;
/** The namespace type names SETNS takes. */
export type NsName = "user" | "mount" | "network" | "ipc" | "uts" | "pid" | "cgroup" | "time";

/**
 * Each op's arguments: what `Plan.add` accepts for it. Keep in step with OP_ARG_NAMES below (the
 * compiler checks the counts), native/PROTOCOL.md and native/src/main.c (test/unit/protocol.test.ts
 * checks those). An empty string means "absent" where PROTOCOL.md says so (MOUNT's source, fstype,
 * data; every `scope`).
 */
export interface OpArgs {
  [OpCode.END]: [];
  [OpCode.SETNS]: [type: NsName, path: string];
  [OpCode.CGROUP_JOIN]: [procsFile: string];
  [OpCode.TIMENS]: [offsets: string];
  [OpCode.CONSOLE_SOCKET]: [path: string];
  [OpCode.CLONE]: [flags: Int, uidMap: string, gidMap: string, setgroups: "" | "deny" | "allow", mode: "detach" | "wait"];
  [OpCode.SETSID]: [];
  [OpCode.BECOME_ROOT]: [];
  [OpCode.MOUNT]: [source: string, target: string, fstype: string, flags: Int, data: string, scope: string];
  [OpCode.MKDIRS]: [path: string, scope: string, kind: "dir" | "file"];
  [OpCode.MOUNT_SETATTR]: [target: string, scope: string, attrSet: Int, attrClr: Int, propagation: Int, recursive: 0 | 1];
  [OpCode.MKNOD]: [
    path: string,
    type: "c" | "b" | "p" | "u",
    major: Int,
    minor: Int,
    mode: Int,
    uid: Int,
    gid: Int,
    scope: string,
  ];
  [OpCode.SYMLINK]: [target: string, linkpath: string, scope: string];
  [OpCode.PAUSE]: [label: string];
  [OpCode.PIVOT_ROOT]: [rootfs: string];
  [OpCode.MOVE_ROOT]: [rootfs: string];
  [OpCode.MASK]: [path: string];
  [OpCode.READONLY]: [path: string];
  [OpCode.WRITE_FILE]: [path: string, content: string];
  [OpCode.SETHOSTNAME]: [name: string];
  [OpCode.SETDOMAINNAME]: [name: string];
  [OpCode.CONSOLE]: [rows: Int, cols: Int, uid: Int];
  [OpCode.RLIMIT]: [resource: Int, soft: Int, hard: Int];
  [OpCode.IOPRIO]: [ioClass: Int, level: Int];
  [OpCode.SCHED]: [policy: Int, priority: Int, nice: Int, flags: Int, runtime: Int, deadline: Int, period: Int];
  [OpCode.PERSONALITY]: [persona: Int];
  [OpCode.NO_NEW_PRIVS]: [];
  [OpCode.CAP_BOUNDING]: [keepMask: Mask];
  [OpCode.USER]: [uid: Int, gid: Int, groups: string, umask: string];
  [OpCode.CAPS]: [effective: Mask, permitted: Mask, inheritable: Mask];
  [OpCode.CAP_AMBIENT]: [mask: Mask];
  [OpCode.CHDIR]: [path: string];
  [OpCode.FIND_EXEC]: [name: string, pathEnv: string];
  [OpCode.FIFO_OPEN]: [path: string];
  [OpCode.READY]: [];
  [OpCode.FIFO_WAIT]: [];
  [OpCode.SECCOMP]: [bpf: Buffer, flags: Int, listener: string, state: Buffer | ""];
  [OpCode.EXEC]: [argvCount: Int, ...argvThenEnv: string[]];
  [OpCode.NEW_KEYRING]: [name: string];
  [OpCode.SECCOMP_LISTENER]: [path: string];
  [OpCode.CONSOLE_PAIR]: [];
  [OpCode.MKFIFO]: [path: string, mode: Int];
  [OpCode.PARENT_CGROUPS]: [files: string];
  [OpCode.LOOPBACK_UP]: [];
  [OpCode.MASK_SOURCE]: [path: string];
  [OpCode.CHROOT]: [root: string];
  [OpCode.UMOUNT]: [path: string];
  [OpCode.MOUNT_KEEP_MODE]: [source: string, target: string, fstype: string, flags: Int, data: string, scope: string];
  [OpCode.OPEN_TREE]: [path: string, recursive: 0 | 1];
  [OpCode.MOVE_MOUNT]: [index: Int, target: string, scope: string];
}

/**
 * The argument names of PROTOCOL.md's op table, in order; a name ending in "…" stands for any
 * number of arguments (EXEC's argv and env). The runtime copy of OpArgs: Plan.add checks counts
 * with it, and the protocol test compares it with the C dispatch table and PROTOCOL.md.
 */
export const OP_ARG_NAMES = {
  [OpCode.END]: [],
  [OpCode.SETNS]: ["type", "path"],
  [OpCode.CGROUP_JOIN]: ["procs-file"],
  [OpCode.TIMENS]: ["offsets"],
  [OpCode.CONSOLE_SOCKET]: ["path"],
  [OpCode.CLONE]: ["flags", "uid_map", "gid_map", "setgroups", "mode"],
  [OpCode.SETSID]: [],
  [OpCode.BECOME_ROOT]: [],
  [OpCode.MOUNT]: ["source", "target", "fstype", "flags", "data", "scope"],
  [OpCode.MKDIRS]: ["path", "scope", "kind"],
  [OpCode.MOUNT_SETATTR]: ["target", "scope", "attr_set", "attr_clr", "propagation", "recursive"],
  [OpCode.MKNOD]: ["path", "type", "major", "minor", "mode", "uid", "gid", "scope"],
  [OpCode.SYMLINK]: ["target", "linkpath", "scope"],
  [OpCode.PAUSE]: ["label"],
  [OpCode.PIVOT_ROOT]: ["rootfs"],
  [OpCode.MOVE_ROOT]: ["rootfs"],
  [OpCode.MASK]: ["path"],
  [OpCode.READONLY]: ["path"],
  [OpCode.WRITE_FILE]: ["path", "content"],
  [OpCode.SETHOSTNAME]: ["name"],
  [OpCode.SETDOMAINNAME]: ["name"],
  [OpCode.CONSOLE]: ["rows", "cols", "uid"],
  [OpCode.RLIMIT]: ["resource", "soft", "hard"],
  [OpCode.IOPRIO]: ["class", "level"],
  [OpCode.SCHED]: ["policy", "priority", "nice", "flags", "runtime", "deadline", "period"],
  [OpCode.PERSONALITY]: ["persona"],
  [OpCode.NO_NEW_PRIVS]: [],
  [OpCode.CAP_BOUNDING]: ["keep-mask"],
  [OpCode.USER]: ["uid", "gid", "groups", "umask"],
  [OpCode.CAPS]: ["effective", "permitted", "inheritable"],
  [OpCode.CAP_AMBIENT]: ["mask"],
  [OpCode.CHDIR]: ["path"],
  [OpCode.FIND_EXEC]: ["name", "path-env"],
  [OpCode.FIFO_OPEN]: ["path"],
  [OpCode.READY]: [],
  [OpCode.FIFO_WAIT]: [],
  [OpCode.SECCOMP]: ["bpf", "flags", "listener", "state"],
  [OpCode.EXEC]: ["argv-count", "argv…", "env…"],
  [OpCode.NEW_KEYRING]: ["name"],
  [OpCode.SECCOMP_LISTENER]: ["path"],
  [OpCode.CONSOLE_PAIR]: [],
  [OpCode.MKFIFO]: ["path", "mode"],
  [OpCode.PARENT_CGROUPS]: ["files"],
  [OpCode.LOOPBACK_UP]: [],
  [OpCode.MASK_SOURCE]: ["path"],
  [OpCode.CHROOT]: ["root"],
  [OpCode.UMOUNT]: ["path"],
  [OpCode.MOUNT_KEEP_MODE]: ["source", "target", "fstype", "flags", "data", "scope"],
  [OpCode.OPEN_TREE]: ["path", "recursive"],
  [OpCode.MOVE_MOUNT]: ["index", "target", "scope"],
} as const satisfies { readonly [C in OpCode]: readonly string[] };

// Compile-time check that OpArgs and OP_ARG_NAMES agree on every fixed-arity op's count.
type Names<C extends OpCode> = (typeof OP_ARG_NAMES)[C];
type SameCount<C extends OpCode> = number extends OpArgs[C]["length"]
  ? true // variadic: checked at run time against the fixed names
  : OpArgs[C]["length"] extends Names<C>["length"]
    ? Names<C>["length"] extends OpArgs[C]["length"]
      ? true
      : false
    : false;
const countsAgree: { [C in OpCode]: SameCount<C> } = {} as { [C in OpCode]: true };
void countsAgree;

/** How many arguments `code` takes: exact, or at least `min` for a variadic op (-1 in main.c). */
export function argCount(code: OpCode): { min: number; variadic: boolean } {
  const names: readonly string[] = OP_ARG_NAMES[code] ?? [];
  const fixed = names.filter((n) => !n.endsWith("…"));
  return { min: fixed.length, variadic: fixed.length !== names.length };
}

export interface Op {
  code: OpCode;
  args: Arg[];
  /** config.json field path the op implements, e.g. `mounts[3]` or `process.rlimits[0]` */
  field: string;
  /** what the op does, for error messages: `mount proc on /proc` */
  what: string;
}

export class Plan {
  readonly ops: Op[] = [];

  /** Append an op; its arguments are typed per op (OpArgs). */
  add<C extends OpCode>(code: C, field: string, what: string, ...args: OpArgs[C]): this {
    this.ops.push(makeOp(code, field, what, args));
    return this;
  }

  /** Put an op before every other one (the exec fifo, made once the plan is known). */
  prepend<C extends OpCode>(code: C, field: string, what: string, ...args: OpArgs[C]): this {
    this.ops.unshift(makeOp(code, field, what, args));
    return this;
  }

  /** Serialise to the wire format: op:u32 nargs:u32 (len:u32 bytes)* … END. */
  encode(): Buffer {
    const parts: Buffer[] = [];
    const u32 = (n: number) => {
      const b = Buffer.allocUnsafe(4);
      b.writeUInt32LE(n >>> 0);
      return b;
    };
    for (const op of [...this.ops, { code: OpCode.END, args: [] as Arg[] }]) {
      parts.push(u32(op.code), u32(op.args.length));
      for (const a of op.args) {
        const bytes = Buffer.isBuffer(a) ? a : Buffer.from(String(a), "utf8");
        parts.push(u32(bytes.length), bytes);
      }
    }
    return Buffer.concat(parts);
  }
}

/** The types stop a wrong call at compile time; this stops one that went through a cast, or a
 *  spread of a computed list, before the shim answers it with a bare EINVAL. */
function makeOp(code: OpCode, field: string, what: string, args: readonly Arg[]): Op {
  const { min, variadic } = argCount(code);
  if (variadic ? args.length < min : args.length !== min) {
    throw new Error(
      `internal error: op ${OpCode[code] ?? code} takes ${variadic ? "at least " : ""}${min} arguments, got ${args.length} (${field}: ${what})`,
    );
  }
  return { code, args: [...args], field, what };
}
