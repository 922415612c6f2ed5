// v1 cpu controller (CFS shares/quota/period/burst, RT group scheduling, SCHED_IDLE groups).
import { fieldError } from "../../errors.js";
import type { Resources } from "../../spec/types.js";
import { readCg, writeCg } from "../fs.js";
import { int, writeIntIfSupported } from "../values.js";

type Cpu = NonNullable<Resources["cpu"]>;
const F = "linux.resources.cpu";

export function applyCpuV1(dir: string, c: Cpu): void {
  if (c.shares !== undefined && c.shares !== 0) {
    const shares = int(`${F}.shares`, c.shares);
    writeCg(dir, "cpu.shares", String(shares), `${F}.shares`);
    // The kernel clamps silently; a clamped value is not what the user asked for.
    const got = Number(readCg(dir, "cpu.shares"));
    if (got !== shares) {
      throw fieldError(`${F}.shares`, `${shares} is out of range: the kernel ${shares > got ? "maximum" : "minimum"} is ${got}`);
    }
  }
  const period = c.period === undefined ? 0 : int(`${F}.period`, c.period);
  const quota = c.quota === undefined ? 0 : int(`${F}.quota`, c.quota);
  const writePeriod = () => writeCg(dir, "cpu.cfs_period_us", String(period), `${F}.period`);
  const writeQuota = () => writeCg(dir, "cpu.cfs_quota_us", String(quota), `${F}.quota`);
  if (period !== 0) {
    try {
      writePeriod();
    } catch (e) {
      // A new period can clash with the old quota (or burst); set the quota first and retry.
      if (quota === 0 || (e as { detail?: { errno?: string } }).detail?.errno !== "EINVAL") throw e;
      writeQuota();
      writePeriod();
    }
  }
  if (quota !== 0) writeQuota();
  if (c.burst !== undefined) {
    writeIntIfSupported(dir, "cpu.cfs_burst_us", `${F}.burst`, c.burst);
  }
  const rtWhy = "real-time group scheduling is not enabled in this kernel (CONFIG_RT_GROUP_SCHED)";
  if (c.realtimePeriod !== undefined && c.realtimePeriod !== 0) {
    writeIntIfSupported(dir, "cpu.rt_period_us", `${F}.realtimePeriod`, c.realtimePeriod, rtWhy);
  }
  if (c.realtimeRuntime !== undefined && c.realtimeRuntime !== 0) {
    writeIntIfSupported(dir, "cpu.rt_runtime_us", `${F}.realtimeRuntime`, c.realtimeRuntime, rtWhy);
  }
  if (c.idle !== undefined) {
    writeIntIfSupported(dir, "cpu.idle", `${F}.idle`, c.idle);
  }
}
