// The one declarative description of polis's command line. The fast parser (argv.ts) reads it for
// every invocation; help.ts renders it through yargs only when help is asked for. Keep this file
// free of imports and code: it is loaded on every run.

/** "strings" is a repeatable string flag (--env A --env B). */
export type OptionType = "boolean" | "string" | "number" | "strings";

export interface OptionSpec {
  name: string; // long name, without dashes
  alias?: string; // one-letter short name
  type: OptionType;
  default?: boolean | string | number;
  description: string;
}

export interface CommandSpec {
  name: string;
  aliases?: string[];
  summary: string;
  /** What follows `polis <name>` in the usage line, runc's wording. */
  usage: string;
  description?: string;
  /** Exact bounds on the number of positional arguments (runc's checkArgs). */
  minArgs: number;
  maxArgs: number;
  options: OptionSpec[];
  /**
   * The first positional ends option parsing: everything after it belongs to the command run in
   * the container (exec) or to ps(1) (ps). Other commands, like runc, still accept their known
   * flags after the positionals.
   */
  stopAtFirstPositional?: boolean;
}

const bundle: OptionSpec = {
  name: "bundle",
  alias: "b",
  type: "string",
  description: "path to the bundle directory (default: the current directory)",
};
const consoleSocket: OptionSpec = {
  name: "console-socket",
  type: "string",
  description: "AF_UNIX socket that receives the master end of the container's pseudoterminal",
};
const pidFile: OptionSpec = { name: "pid-file", type: "string", description: "write the process id to this file" };
const noPivot: OptionSpec = {
  name: "no-pivot",
  type: "boolean",
  description: "use MS_MOVE + chroot instead of pivot_root (for a rootfs on a ramdisk)",
};
const noNewKeyring: OptionSpec = {
  name: "no-new-keyring",
  type: "boolean",
  description: "keep the caller's session keyring instead of creating a new one",
};
const preserveFds: OptionSpec = {
  name: "preserve-fds",
  type: "number",
  default: 0,
  description: "pass N more file descriptors to the container (stdio + $LISTEN_FDS + N in total)",
};
const detach: OptionSpec = { name: "detach", alias: "d", type: "boolean", description: "detach from the container's process" };
const tableOrJson = (): OptionSpec => ({
  name: "format",
  alias: "f",
  type: "string",
  default: "table",
  description: "output format: table or json",
});

const ID = "<container-id>";

export const GLOBAL_OPTIONS: OptionSpec[] = [
  { name: "debug", type: "boolean", description: "enable debug logging" },
  { name: "log", type: "string", description: "write polis's log to this file (default: stderr)" },
  { name: "log-format", type: "string", default: "text", description: "log format: text or json" },
  { name: "root", type: "string", description: "directory holding container state (default: /var/lib/polis)" },
  { name: "systemd-cgroup", type: "boolean", description: 'use systemd for cgroups; cgroupsPath is "slice:prefix:name"' },
  { name: "config", type: "string", description: "polis's YAML config file (default: $POLIS_CONFIG or /etc/polis/config.yaml)" },
  { name: "rootless", type: "string", default: "auto", description: "ignore cgroup permission errors: true, false or auto" },
  { name: "help", alias: "h", type: "boolean", description: "show help" },
  { name: "version", alias: "v", type: "boolean", description: "print the version" },
];

export const COMMANDS: CommandSpec[] = [
  {
    name: "create",
    summary: "create a container",
    usage: `[command options] ${ID}`,
    description: "Create a container from the bundle's config.json and root filesystem; `start` runs its process.",
    minArgs: 1,
    maxArgs: 1,
    options: [bundle, consoleSocket, pidFile, noPivot, noNewKeyring, preserveFds],
  },
  {
    name: "delete",
    summary: "delete any resources held by the container",
    usage: `[command options] ${ID}`,
    minArgs: 1,
    maxArgs: 1,
    options: [{ name: "force", alias: "f", type: "boolean", description: "delete even if still running (uses SIGKILL)" }],
  },
  {
    name: "events",
    summary: "display container events and resource usage statistics",
    usage: `[command options] ${ID}`,
    minArgs: 1,
    maxArgs: 1,
    options: [
      { name: "interval", type: "string", default: "5s", description: "statistics collection interval" },
      { name: "stats", type: "boolean", description: "print the container's statistics once, then exit" },
    ],
  },
  {
    name: "exec",
    summary: "execute a new process inside the container",
    usage: `[command options] ${ID} <command> [command options]  || -p process.json ${ID}`,
    minArgs: 1,
    maxArgs: Infinity,
    stopAtFirstPositional: true,
    options: [
      consoleSocket,
      { name: "cwd", type: "string", description: "working directory in the container" },
      { name: "env", alias: "e", type: "strings", description: "set an environment variable (repeatable)" },
      { name: "tty", alias: "t", type: "boolean", description: "allocate a pseudo-TTY" },
      { name: "user", alias: "u", type: "string", description: "UID (format: <uid>[:<gid>])" },
      { name: "additional-gids", alias: "g", type: "strings", description: "additional gids (repeatable)" },
      { name: "process", alias: "p", type: "string", description: "path to the process.json" },
      detach,
      pidFile,
      { name: "process-label", type: "string", description: "SELinux label for the process" },
      { name: "apparmor", type: "string", description: "AppArmor profile for the process" },
      { name: "no-new-privs", type: "boolean", description: "set no_new_privs for the process" },
      { name: "cap", alias: "c", type: "strings", description: "add a capability to the process's bounding set (repeatable)" },
      preserveFds,
      { name: "cgroup", type: "strings", description: "run the process in an existing sub-cgroup: [<controller>[,<controller>]:]<cgroup> (repeatable, one per controller)" },
      { name: "ignore-paused", type: "boolean", description: "allow exec in a paused container" },
    ],
  },
  {
    name: "features",
    summary: "show the enabled features",
    usage: "[arguments...]",
    description: "Print the features this runtime supports, as JSON.",
    minArgs: 0,
    maxArgs: 0,
    options: [],
  },
  {
    name: "kill",
    summary: "send a signal (default: SIGTERM) to the container's init process",
    usage: `[command options] ${ID} [signal]`,
    minArgs: 1,
    maxArgs: 2,
    options: [{ name: "all", alias: "a", type: "boolean", description: "send the signal to every process in the container" }],
  },
  {
    name: "list",
    summary: "list the containers under --root",
    usage: "[command options]",
    minArgs: 0,
    maxArgs: 0,
    options: [tableOrJson(), { name: "quiet", alias: "q", type: "boolean", description: "print only container ids" }],
  },
  {
    name: "pause",
    summary: "suspend all processes inside the container",
    usage: ID,
    minArgs: 1,
    maxArgs: 1,
    options: [],
  },
  {
    name: "ps",
    summary: "show the processes running inside a container",
    usage: `[command options] ${ID} [ps options]`,
    minArgs: 1,
    maxArgs: Infinity,
    stopAtFirstPositional: true,
    options: [tableOrJson()],
  },
  {
    name: "resume",
    summary: "resume all processes that were paused",
    usage: ID,
    minArgs: 1,
    maxArgs: 1,
    options: [],
  },
  {
    name: "run",
    summary: "create and run a container",
    usage: `[command options] ${ID}`,
    minArgs: 1,
    maxArgs: 1,
    options: [
      bundle,
      consoleSocket,
      detach,
      { name: "keep", type: "boolean", description: "do not delete the container after it exits" },
      pidFile,
      { name: "no-subreaper", type: "boolean", description: "accepted for runc compatibility; polis never becomes a subreaper" },
      noPivot,
      noNewKeyring,
      preserveFds,
    ],
  },
  {
    name: "spec",
    summary: "create a new specification file",
    usage: "[command options] [arguments...]",
    description: "Write a starter config.json into the bundle directory.",
    minArgs: 0,
    maxArgs: 0,
    options: [
      { name: "bundle", alias: "b", type: "string", description: "path to the bundle directory" },
      { name: "rootless", type: "boolean", description: "generate a configuration for a rootless container" },
    ],
  },
  {
    name: "start",
    summary: "run the user-defined process in a created container",
    usage: ID,
    minArgs: 1,
    maxArgs: 1,
    options: [],
  },
  {
    name: "state",
    summary: "output the state of a container",
    usage: ID,
    minArgs: 1,
    maxArgs: 1,
    options: [],
  },
  {
    name: "update",
    summary: "update container resource constraints",
    usage: `[command options] ${ID}`,
    description:
      "With --resources, the file (or '-' for stdin) holds linux.resources JSON and every other flag is ignored.",
    minArgs: 1,
    maxArgs: 1,
    options: [
      { name: "resources", alias: "r", type: "string", description: "file with the resources to update, or '-' for stdin" },
      { name: "blkio-weight", type: "number", default: 0, description: "per-cgroup block IO weight, 10 to 1000" },
      { name: "cpu-period", type: "string", description: "CPU CFS period (usecs)" },
      { name: "cpu-quota", type: "string", description: "CPU CFS quota (usecs) per period" },
      { name: "cpu-share", type: "string", description: "CPU shares (relative weight)" },
      { name: "cpu-rt-period", type: "string", description: "CPU realtime period (usecs)" },
      { name: "cpu-rt-runtime", type: "string", description: "CPU realtime runtime (usecs) per period" },
      { name: "cpuset-cpus", type: "string", description: "CPUs to use" },
      { name: "cpuset-mems", type: "string", description: "memory nodes to use" },
      { name: "memory", type: "string", description: "memory limit (bytes, or with a k/m/g suffix)" },
      { name: "memory-reservation", type: "string", description: "memory soft limit" },
      { name: "memory-swap", type: "string", description: "memory + swap limit; -1 for unlimited swap" },
      { name: "pids-limit", type: "number", default: 0, description: "maximum number of pids in the container" },
      { name: "l3-cache-schema", type: "string", description: "Intel RDT/CAT L3 cache schema" },
      { name: "mem-bw-schema", type: "string", description: "Intel RDT/MBA memory bandwidth schema" },
    ],
  },
  {
    name: "help",
    aliases: ["h"],
    summary: "show a list of commands or help for one command",
    usage: "[command]",
    minArgs: 0,
    maxArgs: Infinity,
    options: [],
  },
];
