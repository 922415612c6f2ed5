// cgroup v2 cpu: cpu.weight (from shares), cpu.max "quota period", cpu.max.burst, cpu.idle.
import { fieldError } from "../../errors.js";
import type { Resources } from "../../spec/types.js";
import { writeCg } from "../fs.js";
import { int, v1RangeToV2Weight, writeIntIfSupported } from "../values.js";

type Cpu = NonNullable<Resources["cpu"]>;
const F = "linux.resources.cpu";

/** runc's mapping of v1 shares [2, 262144] onto v2 weight [1, 10000]. */
export function sharesToWeight(shares: number): number {
  return v1RangeToV2Weight(shares, 2, 262144);
}

/** cpu.max contents, or undefined when neither quota nor period is set. */
export function cpuMax(quota: number, period: number): string | undefined {
  if (quota === 0 && period === 0) return undefined;
  let s = quota > 0 ? String(quota) : "max";
  if (period !== 0) s += ` ${period}`;
  return s;
}

export function applyCpuV2(dir: string, c: Cpu): void {
  if (c.realtimeRuntime || c.realtimePeriod) {
    throw fieldError(
      `${F}.${c.realtimeRuntime ? "realtimeRuntime" : "realtimePeriod"}`,
      "real-time group scheduling is not supported on cgroup v2",
    );
  }
  if (c.shares !== undefined && c.shares !== 0) {
    const shares = int(`${F}.shares`, c.shares);
    if (shares < 2 || shares > 262144) throw fieldError(`${F}.shares`, `must be between 2 and 262144, got ${shares}`);
    writeCg(dir, "cpu.weight", String(sharesToWeight(shares)), `${F}.shares`);
  }
  const max = cpuMax(
    c.quota === undefined ? 0 : int(`${F}.quota`, c.quota),
    c.period === undefined ? 0 : int(`${F}.period`, c.period),
  );
  if (max !== undefined) writeCg(dir, "cpu.max", max, c.quota ? `${F}.quota` : `${F}.period`);
  if (c.burst !== undefined) {
    writeIntIfSupported(dir, "cpu.max.burst", `${F}.burst`, c.burst);
  }
  if (c.idle !== undefined) {
    writeIntIfSupported(dir, "cpu.idle", `${F}.idle`, c.idle);
  }
}
