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
  /** Other bounds on the positionals when this flag is given (`events --all` takes no id). */
  argsWithFlag?: { flag: string; minArgs: number; maxArgs: number };
  /** Plumbing run by polis's own helpers (the container monitor), left out of --help. */
  hidden?: boolean;
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

const image: OptionSpec = {
  name: "image",
  type: "string",
  description: "make the bundle from this pulled image (arguments after the id replace its Cmd)",
};
const bundleDir: OptionSpec = {
  name: "bundle-dir",
  type: "string",
  description: "with --image: where to make the bundle (default: <root>/bundles/<id>); removed by delete",
};
const tlsVerify: OptionSpec = {
  name: "tls-verify",
  type: "boolean",
  default: true,
  description: "require HTTPS (--tls-verify=false also allows plain HTTP)",
};
// run/create flags of the network room: any of them sends the command through src/engine/.
const networkOptions: OptionSpec[] = [
  { name: "network", type: "string", description: "attach to network NAME (default: polis), or none, or host" },
  { name: "ip", type: "strings", description: "the container's address on the network (one per IP family)" },
  { name: "alias", type: "strings", description: "another name of the container on the network" },
  { name: "publish", alias: "p", type: "strings", description: "publish [hostIP:]hostPort[-end]:containerPort[-end][/tcp|udp]" },
];

// The per-container monitor's flags on run/create (src/monitor/options.ts); any of them needs --detach.
const monitorFlags: OptionSpec[] = [
  { name: "logs", type: "boolean", description: "keep the container's output in a log file under --root (needs --detach)" },
  { name: "log-path", type: "string", description: "keep the container's output in this log file (k8s-file format)" },
  { name: "log-max-size", type: "string", description: "rotate the log file at this size (10m, 512k)" },
  { name: "log-max-files", type: "number", description: "log files kept when rotating, the current one included (default 1)" },
  { name: "health-cmd", type: "string", description: "health check: a shell command run in the container" },
  { name: "health-interval", type: "string", description: "time between health checks (default 30s)" },
  { name: "health-timeout", type: "string", description: "a check running longer fails (default 30s)" },
  { name: "health-retries", type: "number", description: "consecutive failures before unhealthy (default 3)" },
  { name: "health-start-period", type: "string", description: "failures in this time after start do not count (default 0s)" },
  { name: "health-on-failure", type: "string", description: "when unhealthy: none, kill, restart or stop (default none)" },
  { name: "no-healthcheck", type: "boolean", description: "do not run the image's Healthcheck (with --image)" },
];

export const GLOBAL_OPTIONS: OptionSpec[] = [
  { name: "debug", type: "boolean", description: "enable debug logging" },
  { name: "log", type: "string", description: "write polis's log to this file (default: stderr)" },
  { name: "log-format", type: "string", default: "text", description: "log format: text or json" },
  { name: "root", type: "string", description: "directory holding container state (default: /var/lib/polis)" },
  { name: "systemd-cgroup", type: "boolean", description: 'use systemd for cgroups; cgroupsPath is "slice:prefix:name"' },
  { name: "config", type: "string", description: "polis's YAML config file (default: $POLIS_CONFIG or /etc/polis/config.yaml)" },
  {
    name: "rootless",
    type: "string",
    default: "auto",
    description:
      "rootless mode: false or auto (the same today: polis runs as root and cgroup errors are errors); true is refused",
  },
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
    options: [
      bundle,
      consoleSocket,
      pidFile,
      noPivot,
      noNewKeyring,
      preserveFds,
      image,
      bundleDir,
      ...networkOptions,
      ...monitorFlags,
    ],
    argsWithFlag: { flag: "image", minArgs: 1, maxArgs: Infinity },
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
    description:
      "With --all: the engine's event history for every container (create, start, exit, oom, health_status, kill, delete …).",
    minArgs: 1,
    maxArgs: 1,
    argsWithFlag: { flag: "all", minArgs: 0, maxArgs: 0 },
    options: [
      { name: "interval", type: "string", default: "5s", description: "statistics collection interval" },
      { name: "stats", type: "boolean", description: "print the container's statistics once, then exit" },
      {
        name: "all",
        type: "boolean",
        description: "the engine's event history of all containers instead of one container's stream",
      },
      { name: "since", type: "string", description: "with --all: events from this time on (RFC 3339, or a duration ago: 10m)" },
      { name: "until", type: "string", description: "with --all: events before this time" },
      { name: "filter", type: "strings", description: "with --all: type=, action= (or event=), id= (or container=); repeatable" },
      { name: "format", type: "string", description: "with --all: text (default) or json (one object per line)" },
      { name: "follow", type: "boolean", description: "with --all: keep printing new events" },
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
      {
        name: "cgroup",
        type: "strings",
        description:
          "run the process in an existing sub-cgroup: [<controller>[,<controller>]:]<cgroup> (repeatable, one per controller)",
      },
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
    name: "network",
    summary: "manage networks: create ls inspect rm prune connect disconnect reload",
    usage: "create|ls|inspect|rm|prune|connect|disconnect|reload [command options] [arguments...]",
    description:
      "network create [-d bridge|macvlan|ipvlan] [-o parent=IF] [-o mode=M] [--subnet CIDR]\n" +
      "               [--gateway IP] [--ip-range CIDR] [--ipv6] [--internal] [--disable-dns]\n" +
      "               [--mtu N] [--label k=v] NAME\n" +
      "network ls [--format table|json] [-q]        network inspect NAME...\n" +
      "network rm [--force] NAME...                 network prune\n" +
      "network connect [--ip IP] [--alias NAME] NET ID    network disconnect NET ID\n" +
      "network reload [--all] [ID...]",
    minArgs: 1,
    maxArgs: 1000,
    options: [
      { name: "subnet", type: "strings", description: "create: subnet in CIDR form (once per IP family)" },
      { name: "gateway", type: "string", description: "create: gateway address (default: the subnet's first)" },
      { name: "ip-range", type: "string", description: "create: give containers addresses from this part of the subnet" },
      { name: "ipv6", type: "boolean", description: "create: add an IPv6 subnet (dual stack)" },
      { name: "internal", type: "boolean", description: "create: no route out of the network" },
      { name: "disable-dns", type: "boolean", description: "create: containers do not get each other's names" },
      { name: "mtu", type: "number", default: 0, description: "create: MTU of the bridge and interfaces" },
      { name: "label", type: "strings", description: "create: a label key=value" },
      {
        name: "driver",
        alias: "d",
        type: "string",
        default: "bridge",
        description: "create: network driver (bridge, macvlan, ipvlan)",
      },
      { name: "opt", alias: "o", type: "strings", description: "create: driver option key=value (parent=IF, mode=M, mtu=N)" },
      { name: "format", type: "string", default: "table", description: "ls: table or json" },
      { name: "quiet", alias: "q", type: "boolean", description: "ls: only names" },
      { name: "force", alias: "f", type: "boolean", description: "rm: also delete the containers on the network" },
      { name: "ip", type: "strings", description: "connect: the container's address on the network" },
      { name: "alias", type: "strings", description: "connect: another name for the container on the network" },
      { name: "all", alias: "a", type: "boolean", description: "reload: every container" },
    ],
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
      image,
      bundleDir,
      ...networkOptions,
      ...monitorFlags,
      {
        name: "rm",
        type: "boolean",
        description: "with --detach: delete the container once it exits (its monitor waits for it)",
      },
    ],
    argsWithFlag: { flag: "image", minArgs: 1, maxArgs: Infinity },
  },
  {
    name: "stats",
    summary: "display a live stream of containers' resource usage (all running ones by default)",
    usage: `[command options] [${ID}...]`,
    minArgs: 0,
    maxArgs: Infinity,
    options: [
      { name: "no-stream", type: "boolean", description: "print one sample (taken over a short interval) and exit" },
      { name: "format", type: "string", default: "table", description: "output format: table or json" },
      { name: "interval", type: "string", default: "2s", description: "time between samples when streaming" },
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
    description: "With --resources, the file (or '-' for stdin) holds linux.resources JSON and every other flag is ignored.",
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
    name: "pull",
    summary: "pull an image from a registry",
    usage: "[command options] <image>",
    description:
      "Fetch an image (name[:tag] or name@sha256:digest; docker.io's short names work) into the store under --root; prints its digest.",
    minArgs: 1,
    maxArgs: 1,
    options: [
      {
        name: "platform",
        type: "string",
        description: "os/arch[/variant] to pick from a multi-platform image (default: this host's)",
      },
      { name: "all-platforms", type: "boolean", description: "pull every platform of a multi-platform image" },
      tlsVerify,
      { name: "creds", type: "string", description: "USERNAME:PASSWORD for the registry" },
      { name: "quiet", alias: "q", type: "boolean", description: "print only the digest" },
    ],
  },
  {
    name: "images",
    summary: "list pulled images",
    usage: "[command options]",
    minArgs: 0,
    maxArgs: 0,
    options: [
      tableOrJson(),
      { name: "quiet", alias: "q", type: "boolean", description: "print only image ids" },
      { name: "digests", type: "boolean", description: "show digests" },
    ],
  },
  {
    name: "rmi",
    summary: "remove images",
    usage: "[command options] <image>...",
    minArgs: 1,
    maxArgs: Infinity,
    options: [{ name: "force", alias: "f", type: "boolean", description: "remove even if a container uses the image" }],
  },
  {
    name: "tag",
    summary: "give an image another name",
    usage: "<source-image> <target-name>",
    minArgs: 2,
    maxArgs: 2,
    options: [],
  },
  {
    name: "image",
    summary: "manage images: inspect, prune, ls, rm",
    usage: "inspect <image>... | prune | ls | rm <image>...",
    minArgs: 1,
    maxArgs: Infinity,
    options: [
      { name: "format", alias: "f", type: "string", default: "table", description: "ls: output format, table or json" },
      { name: "quiet", alias: "q", type: "boolean", description: "ls: print only image ids" },
      { name: "digests", type: "boolean", description: "ls: show digests" },
      { name: "force", type: "boolean", description: "rm: remove even if a container uses the image" },
    ],
  },
  {
    name: "bundle",
    summary: "write an OCI bundle (rootfs + config.json) from a pulled image",
    usage: "<image> <directory>",
    minArgs: 2,
    maxArgs: 2,
    options: [],
  },
  {
    name: "login",
    summary: "log in to a registry",
    usage: "[command options] <registry>",
    minArgs: 1,
    maxArgs: 1,
    options: [
      { name: "username", alias: "u", type: "string", description: "user name" },
      {
        name: "password",
        alias: "p",
        type: "string",
        description: "password (visible to other users in ps: prefer --password-stdin)",
      },
      { name: "password-stdin", type: "boolean", description: "read the password from stdin" },
      tlsVerify,
    ],
  },
  {
    name: "logout",
    summary: "remove the login credentials for a registry",
    usage: "<registry>",
    minArgs: 1,
    maxArgs: 1,
    options: [],
  },
  {
    name: "logs",
    summary: "print the output of a container started with --logs or --log-path",
    usage: `[command options] ${ID}`,
    minArgs: 1,
    maxArgs: 1,
    options: [
      { name: "follow", alias: "f", type: "boolean", description: "keep printing new output until the container stops" },
      { name: "tail", type: "string", description: "print only the last N lines" },
      { name: "since", type: "string", description: "only output after this time (RFC 3339, or a duration ago: 10m)" },
      { name: "until", type: "string", description: "only output before this time (RFC 3339, or a duration ago)" },
      { name: "timestamps", alias: "t", type: "boolean", description: "prefix each line with its time" },
    ],
  },
  {
    name: "inspect",
    summary: "print everything polis knows about a container, as JSON",
    usage: ID,
    minArgs: 1,
    maxArgs: 1,
    options: [],
  },
  {
    name: "health",
    summary: "run a container's health check once now and record the result",
    usage: ID,
    description: "Exit status: 0 healthy, 1 unhealthy, 125 the check could not run.",
    minArgs: 1,
    maxArgs: 1,
    options: [
      { name: "scheduled", type: "boolean", description: "run by the container's monitor on its interval (prints nothing)" },
    ],
  },
  {
    name: "monitor",
    summary: "serve Prometheus metrics, a dashboard and alerts for the containers under --root",
    usage: "[command options]",
    description:
      "Optional and long-running; the runtime never needs it. Settings and alert rules: the monitor section of --config.",
    minArgs: 0,
    maxArgs: 0,
    options: [
      { name: "listen", type: "string", description: "HOST:PORT to serve on (default 127.0.0.1:9323)" },
      { name: "interval", type: "string", description: "sampling and alert interval (default 10s)" },
      { name: "token", type: "string", description: "require this bearer token (needed beyond loopback)" },
    ],
  },
  {
    name: "exited",
    summary: "record the exit of a monitored container (run by its monitor)",
    usage: ID,
    minArgs: 1,
    maxArgs: 1,
    hidden: true,
    options: [],
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
