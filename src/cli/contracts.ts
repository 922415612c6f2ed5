// Library calls the CLI makes beyond those in src/container/options.ts. They belong there; they
// live here until the lead moves them (the CLI imports the modules lazily, as for the others):
//   src/container/pause.ts   pauseContainer(g: GlobalOptions, id: string): Promise<void> | void
//   src/container/resume.ts  resumeContainer(g: GlobalOptions, id: string): Promise<void> | void
//   src/container/exec.ts    execContainer(g: GlobalOptions, o: ExecOptions): Promise<number>  (exit code; 0 with detach)
//   src/container/ps.ts      containerPids(g: GlobalOptions, id: string): Promise<number[]> | number[]
//   src/container/update.ts  updateContainer(g: GlobalOptions, o: UpdateOptions): Promise<void> | void
//   src/container/events.ts  containerEvents(g: GlobalOptions, o: EventsOptions, emit: (e: ContainerEvent) => void): Promise<void>
import type { Process, Resources } from "../spec/types.js";

export interface ExecOptions {
  id: string;
  /** -p process.json, absolute; when set, the flags below that describe the process are ignored (runc). */
  processFile?: string;
  /** The process from the flags, to be completed from the container's config (env appended to its env, …). */
  process: ExecProcessFlags;
  detach: boolean;
  pidFile?: string; // absolute
  consoleSocket?: string; // absolute
  preserveFds: number;
  /** --cgroup: [<controller>:]<path> inside the container's cgroup */
  subCgroup?: string;
  ignorePaused: boolean;
}

export interface ExecProcessFlags {
  args: string[];
  env: string[];
  cwd?: string;
  user?: { uid: number; gid?: number };
  additionalGids: number[];
  caps: string[];
  tty: boolean;
  noNewPrivs: boolean;
  apparmor?: string;
  processLabel?: string;
}

export interface UpdateOptions {
  id: string;
  /** Only what was asked for: absent fields keep their current values. */
  resources: Resources;
}

export interface EventsOptions {
  id: string;
  /** Print the statistics once and return. */
  stats: boolean;
  intervalMs: number;
}

/** One line of `polis events` output: runc's {"type","id","data"} event. */
export interface ContainerEvent {
  type: string; // "stats", "oom", …
  id: string;
  data?: unknown;
}

export type { Process };
