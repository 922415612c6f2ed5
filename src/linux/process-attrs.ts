// Names -> numbers for the process attributes the shim sets with one syscall each:
// ioprio_set(2), sched_setattr(2) and personality(2). The tables are in src/spec/names.ts.
import { fieldError } from "../errors.js";
import { IOPRIO_CLASSES, PERSONALITY_DOMAINS, SCHED_FLAGS, SCHED_POLICIES } from "../spec/names.js";
import type { Linux, Scheduler } from "../spec/types.js";
import type { OpArgs, OpCode } from "./plan.js";

function lookup(table: Readonly<Record<string, number>>, name: string, field: string, what: string): number {
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
export function schedArgs(s: Scheduler, field = "process.scheduler"): OpArgs[OpCode.SCHED] {
  const policy = lookup(SCHED_POLICIES, s.policy, `${field}.policy`, "scheduler policy");
  let flags = 0;
  for (const [i, f] of (s.flags ?? []).entries()) flags |= lookup(SCHED_FLAGS, f, `${field}.flags[${i}]`, "scheduler flag");
  const u64 = (v: number | undefined) => `${BigInt(Math.trunc(v ?? 0))}` as const;
  const int = (v: number) => `${BigInt(Math.trunc(v))}` as const;
  return [int(policy), int(s.priority ?? 0), int(s.nice ?? 0), int(flags), u64(s.runtime), u64(s.deadline), u64(s.period)];
}

/** The personality(2) argument for linux.personality. */
export function personalityValue(p: NonNullable<Linux["personality"]>, field = "linux.personality"): number {
  const domain = lookup(PERSONALITY_DOMAINS, p.domain, `${field}.domain`, "personality domain");
  // The runtime-spec defines no flag values yet; refusing them beats silently ignoring them.
  if (p.flags?.length) throw fieldError(`${field}.flags[0]`, `personality flag "${p.flags[0]}" is not supported`);
  return domain;
}
