// Names -> numbers for the process attributes the shim sets with one syscall each:
// ioprio_set(2), sched_setattr(2) and personality(2).
import { fieldError } from "../errors.js";
import type { Linux, Scheduler } from "../spec/types.js";

export const IOPRIO_CLASSES: Record<string, number> = {
  IOPRIO_CLASS_RT: 1,
  IOPRIO_CLASS_BE: 2,
  IOPRIO_CLASS_IDLE: 3,
};

export const SCHED_POLICIES: Record<string, number> = {
  SCHED_OTHER: 0,
  SCHED_FIFO: 1,
  SCHED_RR: 2,
  SCHED_BATCH: 3,
  SCHED_ISO: 4, // reserved by the kernel, never implemented: sched_setattr says EINVAL
  SCHED_IDLE: 5,
  SCHED_DEADLINE: 6,
};

export const SCHED_FLAGS: Record<string, number> = {
  SCHED_FLAG_RESET_ON_FORK: 0x01,
  SCHED_FLAG_RECLAIM: 0x02,
  SCHED_FLAG_DL_OVERRUN: 0x04,
  SCHED_FLAG_KEEP_POLICY: 0x08,
  SCHED_FLAG_KEEP_PARAMS: 0x10,
  SCHED_FLAG_UTIL_CLAMP_MIN: 0x20,
  SCHED_FLAG_UTIL_CLAMP_MAX: 0x40,
};

export const PERSONALITY_DOMAINS: Record<string, number> = {
  LINUX: 0x0000,
  LINUX32: 0x0008,
};

function lookup(table: Record<string, number>, name: string, field: string, what: string): number {
  if (!Object.hasOwn(table, name)) throw fieldError(field, `unknown ${what} "${name}"`);
  return table[name];
}

/** IOPRIO op args: [class, level]. */
export function ioprioArgs(io: { class: string; priority: number }, field = "process.ioPriority"): [number, number] {
  const cls = lookup(IOPRIO_CLASSES, io.class, `${field}.class`, "io priority class");
  const level = io.priority ?? 0;
  if (!Number.isInteger(level) || level < 0 || level > 7) throw fieldError(`${field}.priority`, "must be between 0 and 7");
  return [cls, level];
}

/** SCHED op args: [policy, priority, nice, flags, runtime, deadline, period] (all decimal). */
export function schedArgs(s: Scheduler, field = "process.scheduler"): string[] {
  const policy = lookup(SCHED_POLICIES, s.policy, `${field}.policy`, "scheduler policy");
  let flags = 0;
  (s.flags ?? []).forEach((f, i) => (flags |= lookup(SCHED_FLAGS, f, `${field}.flags[${i}]`, "scheduler flag")));
  const u64 = (v: number | undefined) => BigInt(Math.trunc(v ?? 0)).toString();
  return [String(policy), String(s.priority ?? 0), String(s.nice ?? 0), String(flags), u64(s.runtime), u64(s.deadline), u64(s.period)];
}

/** The personality(2) argument for linux.personality. */
export function personalityValue(p: NonNullable<Linux["personality"]>, field = "linux.personality"): number {
  const domain = lookup(PERSONALITY_DOMAINS, p.domain, `${field}.domain`, "personality domain");
  // The runtime-spec defines no flag values yet; refusing them beats silently ignoring them.
  if (p.flags?.length) throw fieldError(`${field}.flags[0]`, `personality flag "${p.flags[0]}" is not supported`);
  return domain;
}
