// cgroup v2 memory: memory.max / memory.low / memory.swap.max. OCI's swap is memory+swap
// (a v1 notion), so v2 gets swap - limit, as runc converts it.
import { fieldError } from "../../errors.js";
import type { Resources } from "../../spec/types.js";
import { readCg, writeCg } from "../fs.js";
import { int, requireFile } from "../values.js";

type Memory = NonNullable<Resources["memory"]>;
const F = "linux.resources.memory";

const v2Value = (n: number): string => (n === -1 ? "max" : String(n));

/** OCI memory+swap -> cgroup v2 memory.swap.max (0 = leave unset, -1 = max). */
export function swapToV2(swap: number, limit: number): number {
  if (limit === -1 && swap === 0) return -1;
  if (swap === -1 || swap === 0) return swap;
  if (limit === 0 || limit === -1) throw fieldError(`${F}.swap`, "cannot limit swap without a memory.limit");
  if (swap < limit) throw fieldError(`${F}.swap`, `memory+swap limit (${swap}) must be >= memory.limit (${limit})`);
  return swap - limit;
}

export function applyMemoryV2(dir: string, m: Memory): void {
  const limit = m.limit === undefined ? 0 : int(`${F}.limit`, m.limit);
  const swap = swapToV2(m.swap === undefined ? 0 : int(`${F}.swap`, m.swap), limit);
  for (const [key, what] of [
    ["kernel", "kernel memory limits do not exist"],
    ["kernelTCP", "kernel TCP memory limits do not exist"],
    ["swappiness", "per-cgroup swappiness does not exist"],
  ] as const) {
    if (m[key] !== undefined && m[key] !== null) throw fieldError(`${F}.${key}`, `${what} on cgroup v2`);
  }
  if (m.disableOOMKiller) throw fieldError(`${F}.disableOOMKiller`, "the OOM killer cannot be disabled on cgroup v2");
  if (limit > 0 && m.checkBeforeUpdate) {
    const usage = Number(readCg(dir, "memory.current"));
    if (usage > limit) throw fieldError(`${F}.limit`, `${limit} is below the current usage (${usage})`);
  }
  if (swap !== 0) {
    requireFile(dir, "memory.swap.max", `${F}.swap`, "swap accounting is not enabled (no memory.swap.max)");
    writeCg(dir, "memory.swap.max", v2Value(swap), `${F}.swap`);
  }
  if (limit !== 0) writeCg(dir, "memory.max", v2Value(limit), `${F}.limit`);
  if (m.reservation !== undefined) {
    writeCg(dir, "memory.low", v2Value(int(`${F}.reservation`, m.reservation)), `${F}.reservation`);
  }
}
