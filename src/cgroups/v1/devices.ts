// v1 devices controller: bring the cgroup's rules to what config.json asks for by writing only
// the difference to what devices.list shows (device-rules.ts), so that processes already in a
// shared cgroup never lose a device they keep having (runc does the same).
import { PolisError } from "../../errors.js";
import type { DeviceCgroupRule } from "../../spec/types.js";
import { readCg, writeCg } from "../fs.js";
import { parseDevicesList, ruleSetMatches, ruleSetOf, transition, type DeviceRuleSet } from "./device-rules.js";

export { deviceRuleLine } from "./device-rules.js";

const F = "linux.resources.devices";
/** Rounds of read-diff-write: another polis writing the same cgroup at once may need a second. */
const ROUNDS = 3;

const current = (dir: string): DeviceRuleSet => parseDevicesList(readCg(dir, "devices.list"), `${dir}/devices.list`);

export function applyDevicesV1(dir: string, rules: DeviceCgroupRule[]): void {
  const want = ruleSetOf(rules);
  for (let round = 0; round < ROUNDS; round++) {
    for (const w of transition(current(dir), want)) writeCg(dir, w.file, w.line, F);
    // Read back: a concurrent create in the same cgroup may have reset it between our read and
    // our writes (two fresh creates both start with the reset); then diff again from what is there.
    if (ruleSetMatches(current(dir), want)) return;
  }
  throw new PolisError(`${F}: ${dir}/devices.list does not hold the requested rules after ${ROUNDS} attempts`, {
    field: F,
    step: `write ${dir}/devices.allow`,
  });
}
