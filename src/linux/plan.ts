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
}

export type Arg = string | number | bigint | Buffer;

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

  add(code: OpCode, field: string, what: string, ...args: Arg[]): this {
    this.ops.push({ code, args, field, what });
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
