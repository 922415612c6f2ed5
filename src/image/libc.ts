// The few libc calls Node lacks and unpacking needs (mknod, xattrs) and the overlay mount, bound
// through koffi on first use: koffi costs ~10 ms to load and only image commands need it.
import { createRequire } from "node:module";
import { PolisError } from "../errors.js";

export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;
export const S_IFIFO = 0o010000;
const MNT_DETACH = 2;

interface Libc {
  mknod(path: string, mode: number, dev: bigint): number;
  lsetxattr(path: string, name: string, value: Buffer, size: number, flags: number): number;
  lgetxattr(path: string, name: string, value: Buffer | null, size: number): number;
  llistxattr(path: string, list: Buffer | null, size: number): number;
  mount(source: string, target: string, type: string, flags: number, data: string | null): number;
  umount2(target: string, flags: number): number;
  errno(): number;
}

let cached: Libc | undefined;

function libc(): Libc {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  const koffi = require("koffi") as typeof import("koffi");
  const lib = koffi.load("libc.so.6");
  const mknod = lib.func("int mknod(const char *path, uint32_t mode, uint64_t dev)");
  const lsetxattr = lib.func("int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)");
  const lgetxattr = lib.func("intptr_t lgetxattr(const char *path, const char *name, _Out_ void *value, size_t size)");
  const llistxattr = lib.func("intptr_t llistxattr(const char *path, _Out_ void *list, size_t size)");
  const mount = lib.func(
    "int mount(const char *source, const char *target, const char *type, unsigned long flags, const char *data)",
  );
  const umount2 = lib.func("int umount2(const char *target, int flags)");
  return (cached = {
    mknod: (p, m, d) => mknod(p, m, d),
    lsetxattr: (p, n, v, s, f) => lsetxattr(p, n, v, s, f),
    lgetxattr: (p, n, v, s) => Number(lgetxattr(p, n, v, s)),
    llistxattr: (p, l, s) => Number(llistxattr(p, l, s)),
    mount: (s, t, ty, f, d) => mount(s, t, ty, f, d),
    umount2: (t, f) => umount2(t, f),
    errno: () => koffi.errno(),
  });
}

/** A failed libc call as an ErrnoException-like PolisError (code = errno name). */
function fail(step: string, errno: number): PolisError {
  const name = errnoName(errno);
  const e = new PolisError(`${step}: ${name}`, { step, errno: name });
  (e as unknown as { code: string }).code = name;
  return e;
}

const ERRNO: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  13: "EACCES",
  16: "EBUSY",
  17: "EEXIST",
  20: "ENOTDIR",
  22: "EINVAL",
  28: "ENOSPC",
  30: "EROFS",
  61: "ENODATA",
  95: "EOPNOTSUPP",
  34: "ERANGE",
};
function errnoName(n: number): string {
  return ERRNO[n] ?? `errno ${n}`;
}

/** Linux's makedev: 12 bits of major and 20 of minor, split as glibc lays them out. */
export function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major);
  const mi = BigInt(minor);
  return ((ma & 0xfffn) << 8n) | ((ma & ~0xfffn) << 32n) | (mi & 0xffn) | ((mi & ~0xffn) << 12n);
}

/** glibc's major() and minor() of a device number (a Stats' rdev). */
export function splitDev(rdev: number): [number, number] {
  const d = BigInt(rdev);
  return [Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn)), Number((d & 0xffn) | ((d >> 12n) & ~0xffn))];
}

export function mknod(path: string, mode: number, major = 0, minor = 0): void {
  const l = libc();
  if (l.mknod(path, mode, makedev(major, minor)) !== 0) throw fail(`mknod ${path}`, l.errno());
}

export function lsetxattr(path: string, name: string, value: Buffer): void {
  const l = libc();
  if (l.lsetxattr(path, name, value, value.length, 0) !== 0) throw fail(`setxattr ${name} on ${path}`, l.errno());
}

/** Every xattr of `path` (not following a symlink), name -> value. */
export function lgetxattrs(path: string): Map<string, Buffer> {
  const l = libc();
  const out = new Map<string, Buffer>();
  const size = l.llistxattr(path, null, 0);
  if (size < 0) {
    if (l.errno() === 95) return out; // EOPNOTSUPP: the file system has none
    throw fail(`listxattr ${path}`, l.errno());
  }
  if (size === 0) return out;
  const list = Buffer.alloc(size);
  const got = l.llistxattr(path, list, size);
  if (got < 0) throw fail(`listxattr ${path}`, l.errno());
  for (const name of list.subarray(0, got).toString("latin1").split("\0").filter(Boolean)) {
    const len = l.lgetxattr(path, name, null, 0);
    if (len < 0) continue; // removed meanwhile
    const value = Buffer.alloc(len);
    const n = l.lgetxattr(path, name, value, len);
    if (n >= 0) out.set(name, value.subarray(0, n));
  }
  return out;
}

export function mountOverlay(target: string, options: string): void {
  const l = libc();
  if (l.mount("overlay", target, "overlay", 0, options) !== 0) throw fail(`mount overlay on ${target}`, l.errno());
}

/** Lazily detach `target`; a path that is not (or no longer) a mount point is fine. */
export function unmount(target: string): void {
  const l = libc();
  if (l.umount2(target, MNT_DETACH) === 0) return;
  const errno = l.errno();
  if (errno === 22 || errno === 2) return; // EINVAL: not a mount point; ENOENT: gone
  throw fail(`unmount ${target}`, errno);
}
