// v1 memory controller. linux.resources.memory.swap is memory+swap here (memory.memsw.*).
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fieldError } from "../../errors.js";
import type { Resources } from "../../spec/types.js";
import { readCg, writeCg } from "../fs.js";
import { int, requireFile, writeIntIfSupported } from "../values.js";

type Memory = NonNullable<Resources["memory"]>;
const F = "linux.resources.memory";
const MEMSW = "memory.memsw.limit_in_bytes";

export function applyMemoryV1(dir: string, m: Memory): void {
  const limit = m.limit === undefined ? 0 : int(`${F}.limit`, m.limit);
  let swap = m.swap === undefined ? 0 : int(`${F}.swap`, m.swap);
  const hasMemsw = existsSync(join(dir, MEMSW));
  // runc: an unlimited memory limit with no swap value means "unlimited memory+swap" too.
  if (limit === -1 && swap === 0 && hasMemsw) swap = -1;
  if (swap !== 0 && !hasMemsw) {
    throw fieldError(`${F}.swap`, `swap accounting is not enabled in the kernel (no ${MEMSW})`);
  }
  if (limit > 0 && swap > 0 && swap < limit) {
    throw fieldError(`${F}.swap`, `memory+swap limit (${swap}) must be >= memory.limit (${limit})`);
  }
  if (limit > 0 && m.checkBeforeUpdate) {
    const usage = Number(readCg(dir, "memory.usage_in_bytes"));
    if (usage > limit) throw fieldError(`${F}.limit`, `${limit} is below the current usage (${usage})`);
  }
  const writeLimit = () => writeCg(dir, "memory.limit_in_bytes", String(limit), `${F}.limit`);
  const writeSwap = () => writeCg(dir, MEMSW, String(swap), `${F}.swap`);
  if (limit !== 0 && swap !== 0) {
    // The kernel insists limit <= memsw at every moment: raise memsw first when it grows.
    const current = Number(readCg(dir, MEMSW));
    if (swap === -1 || current < swap) {
      writeSwap();
      writeLimit();
    } else {
      writeLimit();
      writeSwap();
    }
  } else if (limit !== 0) writeLimit();
  else if (swap !== 0) writeSwap();

  if (m.reservation !== undefined) {
    writeCg(dir, "memory.soft_limit_in_bytes", String(int(`${F}.reservation`, m.reservation)), `${F}.reservation`);
  }
  if (m.kernel !== undefined) {
    writeIntIfSupported(dir, "memory.kmem.limit_in_bytes", `${F}.kernel`, m.kernel);
  }
  if (m.kernelTCP !== undefined) {
    writeIntIfSupported(dir, "memory.kmem.tcp.limit_in_bytes", `${F}.kernelTCP`, m.kernelTCP);
  }
  if (m.swappiness !== undefined && m.swappiness !== null) {
    const s = int(`${F}.swappiness`, m.swappiness);
    if (s < 0 || s > 100) throw fieldError(`${F}.swappiness`, `must be between 0 and 100, got ${s}`);
    requireFile(dir, "memory.swappiness", `${F}.swappiness`);
    writeCg(dir, "memory.swappiness", String(s), `${F}.swappiness`);
  }
  if (m.disableOOMKiller) writeCg(dir, "memory.oom_control", "1", `${F}.disableOOMKiller`);
  if (m.useHierarchy !== undefined) {
    const want = m.useHierarchy ? "1" : "0";
    if (readCg(dir, "memory.use_hierarchy") !== want) {
      writeCg(dir, "memory.use_hierarchy", want, `${F}.useHierarchy`);
    }
  }
}
