// Command-line options of scripts/bench/run.mjs.
import { KNOWN } from "./runtimes.mjs";

const CASE_KEYS = [
  "run",
  "create",
  "start",
  "state",
  "kill",
  "delete",
  "delete-force",
  "exec",
  "pause",
  "resume",
  "list",
  "lifecycle",
  "throughput",
];

export const USAGE = `usage: node scripts/bench/run.mjs [options]
  --runs N            timed iterations per command (default 15; --quick: 5)
  --quick             short run: 5 iterations, 3 s of throughput per runtime and mode
  --runtimes LIST     comma-separated subset of polis,runc,crun (default: all three)
  --out FILE          JSON result (default scripts/bench/results/latest.json)
  --phases            collect polis's POLIS_TIMING=1 phase lines and print a per-phase table
  --only LIST         only these cases: run,create,start,state,kill,delete,delete-force,exec,pause,resume,
                      list,lifecycle,throughput
  --list-count N      containers present during \`list\` (default 100)
  --tp-seconds S      throughput seconds per runtime and mode (default 9; --quick: 3)
  --workers N         parallel workers for the parallel throughput row (default 2)
  --warmup N          untimed iterations before each case (default 1)
  --rss-runs N        extra untimed runs per command under /usr/bin/time for peak RSS (default 3; --quick: 2)
  --no-rss            skip the peak-RSS runs
  --no-ca             skip the NODE_EXTRA_CA_CERTS rows
  --no-node           skip the rows of polis forced onto its Node path (POLIS_NATIVE=0)
  --polis PATH        polis executable (default dist/polis, the native launcher, of this checkout)
  -h, --help          this text`;

function positiveInt(flag, v) {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag}: expected a positive integer, got ${v}`);
  return n;
}

export function parseArgs(argv, repo) {
  const o = {
    runs: null,
    quick: false,
    runtimes: [...KNOWN],
    out: `${repo}/scripts/bench/results/latest.json`,
    phases: false,
    only: null,
    listCount: 100,
    tpSeconds: null,
    workers: 2,
    warmup: 1,
    rss: true,
    rssRuns: null,
    ca: true,
    node: true,
    polis: `${repo}/dist/polis`,
    help: false,
  };
  const args = [...argv];
  const value = (flag) => {
    if (args.length === 0) throw new Error(`${flag} needs a value`);
    return args.shift();
  };
  while (args.length) {
    let a = args.shift();
    const eq = a.indexOf("=");
    if (a.startsWith("--") && eq > 0) {
      args.unshift(a.slice(eq + 1));
      a = a.slice(0, eq);
    }
    switch (a) {
      case "--runs":
        o.runs = positiveInt(a, value(a));
        break;
      case "--quick":
        o.quick = true;
        break;
      case "--runtimes": {
        o.runtimes = value(a)
          .split(",")
          .map((s) => s.trim())
          .filter(Boolean);
        const bad = o.runtimes.filter((r) => !KNOWN.includes(r));
        if (bad.length) throw new Error(`--runtimes: unknown ${bad.join(", ")} (known: ${KNOWN.join(", ")})`);
        break;
      }
      case "--out":
        o.out = value(a);
        break;
      case "--phases":
        o.phases = true;
        break;
      case "--only": {
        o.only = value(a)
          .split(",")
          .map((s) => s.trim())
          .filter(Boolean);
        const bad = o.only.filter((k) => !CASE_KEYS.includes(k));
        if (bad.length) throw new Error(`--only: unknown ${bad.join(", ")} (known: ${CASE_KEYS.join(", ")})`);
        break;
      }
      case "--list-count":
        o.listCount = positiveInt(a, value(a));
        break;
      case "--tp-seconds":
        o.tpSeconds = Number(value(a));
        break;
      case "--workers":
        o.workers = positiveInt(a, value(a));
        break;
      case "--warmup":
        o.warmup = Number(value(a));
        break;
      case "--no-node":
        o.node = false;
        break;
      case "--rss-runs":
        o.rssRuns = positiveInt(a, value(a));
        break;
      case "--no-rss":
        o.rss = false;
        break;
      case "--no-ca":
        o.ca = false;
        break;
      case "--polis":
        o.polis = value(a);
        break;
      case "-h":
      case "--help":
        o.help = true;
        break;
      default:
        throw new Error(`unknown option ${a}\n${USAGE}`);
    }
  }
  o.runs ??= o.quick ? 5 : 15;
  o.rssRuns ??= o.quick ? 2 : 3;
  o.tpSeconds ??= o.quick ? 3 : 9;
  if (!(o.tpSeconds > 0)) throw new Error("--tp-seconds: expected a positive number");
  if (!Number.isInteger(o.warmup) || o.warmup < 0) throw new Error("--warmup: expected an integer >= 0");
  return o;
}
