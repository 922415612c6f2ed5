import type { Resources } from "../spec/types.js";

// The options the CLI hands to the lifecycle library. The CLI only parses and prints; every
// decision lives behind these calls (src/container/<verb>.ts).

export interface GlobalOptions {
  root: string; // --root (default DEFAULT_ROOT from src/paths.ts)
  log?: string; // --log FILE
  logFormat: "text" | "json"; // --log-format
  debug: boolean; // --debug
  systemdCgroup: boolean; // --systemd-cgroup
  rootless?: string; // --rootless false|auto (no effect yet; "true" is refused by the CLI)
  config?: string; // --config FILE: polis's YAML config (src/config/load.ts); absent: $POLIS_CONFIG or /etc/polis/config.yaml
}

export interface CreateOptions {
  id: string;
  bundle: string; // absolute (CLI resolves --bundle, default cwd)
  pidFile?: string; // absolute
  consoleSocket?: string;
  noPivot: boolean;
  noNewKeyring: boolean;
  preserveFds: number;
}

export interface RunOptions extends CreateOptions {
  detach: boolean;
  keep: boolean;
}

export interface KillOptions {
  id: string;
  signal: number; // already parsed by src/linux/signals.ts
  all: boolean;
}

export interface DeleteOptions {
  id: string;
  force: boolean;
}

// Library entry points (each in its own module, imported lazily by the CLI):
//   src/container/exec.ts    execContainer(g, o: ExecOptions): Promise<number>  (exit code; 0 with detach)
//   src/container/ps.ts      containerPids(g, id): number[]
//   src/container/pause.ts   pauseContainer(g, id) / resumeContainer(g, id)
//   src/container/update.ts  updateContainer(g, o: UpdateOptions)
//   src/container/events.ts  containerEvents(g, o: EventsOptions, emit: (e: ContainerEvent) => void): Promise<void>
//   src/container/create.ts  createContainer(g: GlobalOptions, o: CreateOptions): Promise<void>
//   src/container/start.ts   startContainer(g: GlobalOptions, id: string): Promise<void>
//   src/container/run.ts     runContainer(g: GlobalOptions, o: RunOptions): Promise<number>  (exit code)
//   src/container/state.ts   containerState(g: GlobalOptions, id: string): State   (src/spec/types.ts)
//   src/container/kill.ts    killContainer(g: GlobalOptions, o: KillOptions): void
//   src/container/delete.ts  deleteContainer(g: GlobalOptions, o: DeleteOptions): Promise<void>
//   src/container/list.ts    listContainers(g: GlobalOptions): ListEntry[]
export interface ListEntry {
  id: string;
  pid: number; // 0 when stopped, like runc
  status: string;
  bundle: string;
  created: string; // RFC 3339
  owner: string;
  annotations?: Record<string, string>;
}

export interface UpdateOptions {
  id: string;
  /** Only what was asked for: absent fields keep their current values. */
  resources: Resources;
}

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
  /** --cgroup, each [<controller>[,<controller>]:]<path> inside the container's cgroup (none: the
   *  container's own cgroup) */
  subCgroups?: string[];
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
