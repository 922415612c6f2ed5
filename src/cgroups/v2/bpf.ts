// The bpf(2) system call, for cgroup v2 device programs: load a BPF_PROG_TYPE_CGROUP_DEVICE
// program and attach it to a cgroup2 directory, replacing whatever device programs were there.
// koffi is required on first use only (most polis invocations never touch devices on v2).
import { closeSync, openSync, constants as fsc } from "node:fs";
import { createRequire } from "node:module";
import { PolisError } from "../../errors.js";
import { errnoName } from "../../linux/errno.js";

/** enum bpf_cmd */
const BPF_PROG_LOAD = 5;
const BPF_PROG_ATTACH = 8;
const BPF_PROG_DETACH = 9;
const BPF_PROG_GET_FD_BY_ID = 13;
const BPF_PROG_QUERY = 16;
/** enum bpf_prog_type / enum bpf_attach_type */
export const BPF_PROG_TYPE_CGROUP_DEVICE = 15;
export const BPF_CGROUP_DEVICE = 6;
/** Several programs may sit on one cgroup: lets us attach the new one before detaching the old. */
export const BPF_F_ALLOW_MULTI = 2;
/** The kernel's BPF_CGROUP_MAX_PROGS: no cgroup holds more programs of one attach type. */
const MAX_PROGS = 64;
/**
 * union bpf_attr is larger than any command's part of it; the kernel accepts a shorter buffer
 * as long as every field after the command's last one is zero, so one zeroed size fits all.
 */
const ATTR_SIZE = 128;
const NR_BPF: Partial<Record<string, number>> = { x64: 321, arm64: 280, ia32: 357, arm: 386 };

const FIELD = "linux.resources.devices";

interface Sys {
  bpf(cmd: number, attr: Buffer): number;
  errno(): number;
  address(b: Buffer): bigint;
}
let sys: Sys | undefined;

function load(): Sys {
  if (sys) return sys;
  const nr = NR_BPF[process.arch];
  if (nr === undefined) throw new PolisError(`${FIELD}: bpf(2) is not known on ${process.arch}`, { field: FIELD, step: "bpf" });
  const koffi = createRequire(import.meta.url)("koffi") as typeof import("koffi");
  const libc = koffi.load("libc.so.6");
  const syscall = libc.func("long syscall(long nr, ...)");
  sys = {
    bpf: (cmd, attr) => Number(syscall(nr, "int", cmd, "void *", attr, "unsigned int", attr.length)),
    errno: () => koffi.errno(),
    // Buffer.alloc memory is never pooled or moved, so its address stays valid while referenced.
    address: (b) => BigInt(koffi.address(b) as unknown as bigint),
  };
  return sys;
}

function fail(step: string, errno: number, extra = ""): PolisError {
  const e = errnoName(errno);
  return new PolisError(`${FIELD}: ${step}: ${e}${extra}`, { field: FIELD, step, errno: e });
}

/** bpf(cmd, attr); returns the result (an fd for LOAD/GET_FD_BY_ID) or throws naming `step`. */
function bpf(cmd: number, attr: Buffer, step: string): number {
  const s = load();
  const r = s.bpf(cmd, attr);
  if (r < 0) throw fail(step, s.errno());
  return r;
}

/** Load a cgroup device program (`insns` = struct bpf_insn[]); returns its fd. */
export function loadDeviceProgram(insns: Buffer): number {
  const s = load();
  const code = Buffer.alloc(insns.length);
  insns.copy(code);
  const license = Buffer.alloc(8);
  license.write("Apache\0");
  const attr = (logBuf?: Buffer): Buffer => {
    const a = Buffer.alloc(ATTR_SIZE);
    a.writeUInt32LE(BPF_PROG_TYPE_CGROUP_DEVICE, 0); // prog_type
    a.writeUInt32LE(insns.length / 8, 4); // insn_cnt
    a.writeBigUInt64LE(s.address(code), 8); // insns
    a.writeBigUInt64LE(s.address(license), 16); // license
    if (logBuf) {
      a.writeUInt32LE(1, 24); // log_level
      a.writeUInt32LE(logBuf.length, 28); // log_size
      a.writeBigUInt64LE(s.address(logBuf), 32); // log_buf
    }
    a.write("polis_devices", 48); // prog_name (visible in bpftool)
    return a;
  };
  const fd = s.bpf(BPF_PROG_LOAD, attr());
  if (fd >= 0) return fd;
  const errno = s.errno();
  // A rejected program is a polis bug: load it again with the verifier log for the report.
  const log = Buffer.alloc(16384);
  if (s.bpf(BPF_PROG_LOAD, attr(log)) < 0) {
    const text = log
      .toString("utf8", 0, Math.max(0, log.indexOf(0)))
      .trim()
      .split("\n")
      .slice(-3)
      .join("; ");
    throw fail("load the device program", errno, text ? ` (verifier: ${text})` : "");
  }
  throw fail("load the device program", errno);
}

/** Ids of the device programs attached directly to the cgroup open as `cgFd`. */
function queryFd(cgFd: number, dir: string): number[] {
  const s = load();
  const ids = Buffer.alloc(4 * MAX_PROGS);
  const a = Buffer.alloc(ATTR_SIZE);
  a.writeUInt32LE(cgFd, 0); // target_fd
  a.writeUInt32LE(BPF_CGROUP_DEVICE, 4); // attach_type
  a.writeBigUInt64LE(s.address(ids), 16); // prog_ids
  a.writeUInt32LE(MAX_PROGS, 24); // prog_cnt (in: room, out: count)
  bpf(BPF_PROG_QUERY, a, `query the device programs of ${dir}`);
  const n = Math.min(a.readUInt32LE(24), MAX_PROGS);
  return Array.from({ length: n }, (_, i) => ids.readUInt32LE(4 * i));
}

function attachFd(cgFd: number, progFd: number, dir: string): void {
  const a = Buffer.alloc(ATTR_SIZE);
  a.writeUInt32LE(cgFd, 0); // target_fd
  a.writeUInt32LE(progFd, 4); // attach_bpf_fd
  a.writeUInt32LE(BPF_CGROUP_DEVICE, 8); // attach_type
  a.writeUInt32LE(BPF_F_ALLOW_MULTI, 12); // attach_flags
  bpf(BPF_PROG_ATTACH, a, `attach the device program to ${dir}`);
}

/** Detach the program with id `id` (a program attached by anyone, found by BPF_PROG_QUERY). */
function detachId(cgFd: number, id: number, dir: string): void {
  const g = Buffer.alloc(ATTR_SIZE);
  g.writeUInt32LE(id, 0); // prog_id
  let progFd: number;
  try {
    progFd = bpf(BPF_PROG_GET_FD_BY_ID, g, `open device program ${id}`);
  } catch (e) {
    if ((e as PolisError).detail?.errno === "ENOENT") return; // gone meanwhile
    throw e;
  }
  try {
    const a = Buffer.alloc(ATTR_SIZE);
    a.writeUInt32LE(cgFd, 0); // target_fd
    a.writeUInt32LE(progFd, 4); // attach_bpf_fd
    a.writeUInt32LE(BPF_CGROUP_DEVICE, 8); // attach_type
    bpf(BPF_PROG_DETACH, a, `detach device program ${id} from ${dir}`);
  } finally {
    closeSync(progFd);
  }
}

function withCgroup<T>(dir: string, fn: (fd: number) => T): T {
  let fd: number;
  try {
    fd = openSync(dir, fsc.O_RDONLY | fsc.O_DIRECTORY); // Node opens everything O_CLOEXEC
  } catch (e) {
    const errno = (e as NodeJS.ErrnoException).code ?? "EIO";
    throw new PolisError(`${FIELD}: open ${dir}: ${errno}`, { field: FIELD, step: `open ${dir}`, errno });
  }
  try {
    return fn(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Make `insns` the only device program of the cgroup2 directory `dir`: attach the new program
 * first (BPF_F_ALLOW_MULTI), then detach the ones that were there, so the cgroup is never
 * without a filter (in between, a device must pass both the old and the new program).
 */
export function replaceDevicePrograms(dir: string, insns: Buffer): void {
  withCgroup(dir, (cgFd) => {
    const old = queryFd(cgFd, dir);
    const progFd = loadDeviceProgram(insns);
    try {
      attachFd(cgFd, progFd, dir);
    } finally {
      // the attachment holds its own reference to the program
      closeSync(progFd);
    }
    for (const id of old) detachId(cgFd, id, dir);
  });
}

/** Ids of the device programs attached directly to the cgroup2 directory `dir`. */
export function devicePrograms(dir: string): number[] {
  return withCgroup(dir, (fd) => queryFd(fd, dir));
}

/** Detach every device program from `dir` (rmdir also drops them; this is for reuse and tests). */
export function detachDevicePrograms(dir: string): void {
  withCgroup(dir, (cgFd) => {
    for (const id of queryFd(cgFd, dir)) detachId(cgFd, id, dir);
  });
}
