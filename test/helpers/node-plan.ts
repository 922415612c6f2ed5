// The init plan node would send the shim for `polis create` (or a foreground `run`), as bytes: config.json
// parsed and validated as create does (src/spec/load.ts), then planInit (src/container/launch.ts).
// The reference the native builder (native/launcher/plan_init.c) is compared with.
import { parseSpec } from "../../src/spec/load.js";
import { checkLsm } from "../../src/spec/semantic.js";
import { checkTerminal } from "../../src/container/plan-init.js";
import { planInit } from "../../src/container/launch.js";
import type { CgroupManager } from "../../src/cgroups/types.js";
import type { ContainerRecord } from "../../src/state/types.js";
import type { CreateOptions, GlobalOptions } from "../../src/container/options.js";
import { dirname, join } from "node:path";

export interface PlanInput {
  bundle: string;
  rootfs: string;
  /** the state dir's exec fifo; its directory is the record's stateDir */
  fifo: string;
  noPivot?: boolean;
  keyring?: string;
  /** controller -> dir, in the manager's order */
  cgroupPaths: [string, string][];
  procs: string[];
  consoleSocket?: string;
  /** "wait": a foreground run (the parent cgroups are polis's own: ownProcsFiles(hostLayout())) */
  mode?: "detach" | "wait";
}

/** The plan's bytes, or the error node reports (a rejected config). */
export async function nodePlan(configText: string, input: PlanInput): Promise<Buffer | Error> {
  try {
    const spec = parseSpec(configText);
    checkLsm(spec);
    const mode = input.mode ?? "detach";
    checkTerminal(spec, input.consoleSocket, mode);
    const cgroupPaths = Object.fromEntries(input.cgroupPaths);
    const cgroup = { paths: cgroupPaths, procsFiles: () => input.procs } as unknown as CgroupManager;
    const rec = {
      id: "plan",
      bundle: input.bundle,
      rootfs: input.rootfs,
      stateDir: dirname(input.fifo),
      sessionKeyring: input.keyring ?? null,
      // read by stateOf for a seccomp agent's payload (prepareSeccomp), which notify configs need only
      annotations: {},
      created: "",
      owner: "",
    } as unknown as ContainerRecord;
    const o = {
      id: "plan",
      bundle: input.bundle,
      noPivot: input.noPivot ?? false,
      noNewKeyring: !input.keyring,
      preserveFds: 0,
      consoleSocket: input.consoleSocket,
    } as CreateOptions;
    const g = { root: "/nonexistent", logFormat: "text", debug: false, systemdCgroup: false } as GlobalOptions;
    const plan = await planInit({ g, o, spec, rec, cgroup, mode });
    if (join(dirname(input.fifo), "exec.fifo") !== input.fifo) throw new Error("the fifo must be <stateDir>/exec.fifo");
    return plan.encode();
  } catch (e) {
    return e as Error;
  }
}
