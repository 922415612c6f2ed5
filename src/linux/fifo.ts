// mkfifo(3) through koffi: Node has no binding for it, and spawning mkfifo(1) costs more.
import { createRequire } from "node:module";
import { constants } from "node:os";
import { PolisError } from "../errors.js";

interface Libc {
  mkfifo: (path: string, mode: number) => number;
  errno: () => number;
}
let libc: Libc | undefined;

function load(): Libc {
  if (!libc) {
    const koffi = createRequire(import.meta.url)("koffi");
    const lib = koffi.load("libc.so.6");
    libc = { mkfifo: lib.func("int mkfifo(const char *path, uint32_t mode)"), errno: () => koffi.errno() };
  }
  return libc;
}

export function errnoName(n: number): string {
  for (const [name, value] of Object.entries(constants.errno)) if (value === n) return name;
  return `errno ${n}`;
}

export function mkfifo(path: string, mode = 0o622): void {
  const c = load();
  if (c.mkfifo(path, mode) !== 0) {
    const e = errnoName(c.errno());
    throw new PolisError(`mkfifo ${path}: ${e}`, { step: "make the exec fifo", errno: e });
  }
}
