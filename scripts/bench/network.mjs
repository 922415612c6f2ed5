#!/usr/bin/env node
// Network benchmark: what `--network NAME -p 8080:80` adds to `run /bin/true`, for polis (CNI
// bridge + static IPAM + its nftables table) and for podman 4 (its CNI backend: bridge +
// host-local + portmap + firewall + tuning, iptables), plus connect/disconnect, side by side in
// one run with the two alternating in every iteration; and polis's IPAM at 1,000 addresses.
//
//   node scripts/bench/network.mjs [--runs N]
//
// Root only. Re-executes itself in a throw-away network + mount namespace: bridges, veths and
// firewall rules of both tools live and die there. podman gets private storage, runroot, CNI
// config dir and IPAM data dir under a temp dir, runs the same busybox rootfs (--rootfs) with crun.
// netavark is used too when it is installed (`apt-get install netavark`).
import { spawnSync } from "node:child_process";
import { closeSync, cpSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const SCRIPT = fileURLToPath(import.meta.url);
const REPO = resolve(dirname(SCRIPT), "..", "..");
const POLIS = join(REPO, "dist", "polis-entry.cjs");
const INNER = "POLIS_NETBENCH_INNER";
const log = (m) => process.stderr.write(`${m}\n`);
const runsArg = process.argv.indexOf("--runs");
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 10;

if (!process.env[INNER]) {
  if (process.getuid() !== 0) throw new Error("bench: run as root");
  const r = spawnSync(
    "unshare",
    ["--net", "--mount", "--propagation", "private", process.execPath, SCRIPT, ...process.argv.slice(2)],
    {
      stdio: "inherit",
      env: { ...process.env, [INNER]: "1" },
    },
  );
  process.exit(r.status ?? 1);
}

const env = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS; // +50-90 ms per node start on these machines: not polis's cost
delete env[INNER];
delete env.POLIS_TIMING;
delete env.POLIS_NFT_EXEC;
spawnSync("ip", ["link", "set", "lo", "up"]);
privateRun();

/**
 * A tmpfs over /run in this (private) mount namespace: podman keeps its netns files in /run/netns
 * and netavark its IPAM database and aardvark-dns config in /run/containers/networks, whatever
 * --runroot says. They stay in the bench's namespace and go with it.
 */
function privateRun() {
  const ns = (pid) => spawnSync("readlink", [`/proc/${pid}/ns/mnt`], { encoding: "utf8" }).stdout.trim();
  if (ns("self") === ns(process.ppid) || ns("self") === ns(1)) throw new Error("bench: not in a mount namespace of its own");
  const r = spawnSync("mount", ["-t", "tmpfs", "-o", "mode=0755", "polis-netbench", "/run"], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`bench: mount tmpfs on /run: ${r.stderr}`);
  mkdirSync("/run/lock", { mode: 0o1777 });
}

const dir = mkdtempSync(join(tmpdir(), "polis-netbench-"));
const rootfs = join(dir, "rootfs");
if (existsSync("/tmp/polis-test-rootfs/bin/busybox"))
  cpSync("/tmp/polis-test-rootfs", rootfs, { recursive: true, verbatimSymlinks: true });
else spawnSync("bash", [join(REPO, "scripts", "make-rootfs.sh"), rootfs], { stdio: "inherit" });
const config = JSON.parse(readFileSync(join(REPO, "test", "fixtures", "busybox-config.json"), "utf8"));
config.process.args = ["/bin/true"];
config.linux.cgroupsPath = `/polis-netbench-${process.pid}`;
config.root = { path: rootfs };
const bundle = join(dir, "bundle");
mkdirSync(bundle);
writeFileSync(join(bundle, "config.json"), JSON.stringify(config));
const sleeper = join(dir, "sleeper");
mkdirSync(sleeper);
writeFileSync(
  join(sleeper, "config.json"),
  JSON.stringify({
    ...config,
    process: { ...config.process, args: ["sleep", "3600"] },
    linux: { ...config.linux, cgroupsPath: `/polis-netbench-${process.pid}-sleeper` },
  }),
);

/** spawnSync with stderr to a file: a detached container (conmon, the shim) keeps pipes open. */
function run(cmd, args, runEnv) {
  const errFile = join(dir, "stderr");
  const fd = openSync(errFile, "w");
  try {
    const r = spawnSync(cmd, args, { env: runEnv, stdio: ["ignore", "ignore", fd] });
    return { status: r.status, stderr: readFileSync(errFile, "utf8") };
  } finally {
    closeSync(fd);
  }
}

// ---- polis
const polisRoot = join(dir, "polis-root");
const polis = (args, extra = {}) => run(process.execPath, [POLIS, "--root", polisRoot, ...args], { ...env, ...extra });
const NFT_EXEC = { POLIS_NFT_EXEC: "1" };
const mustPolis = (args) => {
  const r = polis(args);
  if (r.status !== 0) throw new Error(`polis ${args.join(" ")}: ${r.stderr}`);
};
mustPolis(["network", "create", "--subnet", "10.77.0.0/16", "bench"]);

// ---- podman, private everything; its CNI network as podman generates it, with a private IPAM dir
const podmanDir = join(dir, "podman");
const netConfDir = join(podmanDir, "cni");
mkdirSync(netConfDir, { recursive: true });
/** A CNI network as podman 4 generates it, with a private host-local IPAM dir. */
const cniNetwork = (name, bridge, subnet) => ({
  cniVersion: "0.4.0",
  name,
  plugins: [
    {
      type: "bridge",
      bridge,
      isGateway: true,
      ipMasq: true,
      hairpinMode: true,
      ipam: {
        type: "host-local",
        routes: [{ dst: "0.0.0.0/0" }],
        ranges: [[{ subnet, gateway: subnet.replace(/0\/16$/, "1") }]],
        dataDir: join(podmanDir, "ipam"),
      },
    },
    { type: "portmap", capabilities: { portMappings: true } },
    { type: "firewall" },
    { type: "tuning" },
  ],
});
writeFileSync(join(netConfDir, "benchnet.conflist"), JSON.stringify(cniNetwork("benchnet", "cni-bench0", "10.78.0.0/16")));
writeFileSync(join(netConfDir, "benchnet2.conflist"), JSON.stringify(cniNetwork("benchnet2", "cni-bench1", "10.80.0.0/16")));
/**
 * One containers.conf per backend, the backend pinned in it (podman 4.3 otherwise picks netavark
 * for a fresh storage root whenever it is installed) and its own network config dir (CNI's
 * conflists here, netavark's JSON networks made by `podman network create`).
 */
const podmanEnvs = {};
for (const backend of ["cni", "netavark"]) {
  const confDir = backend === "cni" ? netConfDir : join(podmanDir, "netavark");
  mkdirSync(confDir, { recursive: true });
  const file = join(podmanDir, `containers-${backend}.conf`);
  writeFileSync(
    file,
    `[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]\n` +
      `[network]\nnetwork_backend = "${backend}"\nnetwork_config_dir = "${confDir}"\ncni_plugin_dirs = ["/usr/lib/cni"]\n`,
  );
  podmanEnvs[backend] = { ...env, CONTAINERS_CONF: file, XDG_RUNTIME_DIR: join(podmanDir, "xdg") };
}
mkdirSync(join(podmanDir, "xdg"), { mode: 0o700 });
const podmanGlobal = (backend) => [
  "--root",
  join(podmanDir, `storage-${backend}`),
  "--runroot",
  join(podmanDir, `run-${backend}`),
  "--tmpdir",
  join(podmanDir, `tmp-${backend}`),
  "--storage-driver",
  "vfs",
  "--cgroup-manager",
  "cgroupfs",
  "--events-backend",
  "file",
  "--runtime",
  "runc", // crun refuses this host's hybrid cgroups
  "--network-backend",
  backend,
];
/** Each backend has its own storage, runroot and tmpdir: nothing of one run is seen by the other. */
const podman = (backend, args) => run("podman", [...podmanGlobal(backend), ...args], podmanEnvs[backend]);
const havePodman = spawnSync("podman", ["--version"]).status === 0;
const backends = havePodman ? ["cni", ...(existsSync("/usr/lib/podman/netavark") ? ["netavark"] : [])] : [];
if (havePodman && backends.length === 1)
  log("bench: netavark not installed (apt-get install netavark): podman measured with its CNI backend only");
if (backends.includes("netavark")) {
  for (const [n, sub] of [
    ["benchnav", "10.79.0.0/16"],
    ["benchnav2", "10.81.0.0/16"],
  ]) {
    const r = podman("netavark", ["network", "create", "--subnet", sub, n]);
    if (r.status !== 0) log(`bench: netavark network create failed: ${r.stderr}`);
  }
}

function ms(fn) {
  const t0 = process.hrtime.bigint();
  const r = fn();
  const t = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r && r.status !== 0) throw new Error(`failed: ${r.stderr}`);
  return t;
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const cases = {
  "polis run /bin/true": [],
  "polis run --network bench -p 8080:80 /bin/true": [],
  "polis network connect": [],
  "polis network disconnect": [],
  // the same with the nft binary instead of libnftables in-process (src/network/libnftables.ts)
  "polis run --network bench -p 8080:80 /bin/true, nft binary": [],
  "polis network connect, nft binary": [],
  "polis network disconnect, nft binary": [],
};
for (const b of backends) {
  const net = b === "cni" ? "benchnet" : "benchnav";
  cases[`podman(${b}) run --network none /bin/true`] = [];
  cases[`podman(${b}) run --network ${net} -p 8080:80 /bin/true`] = [];
  cases[`podman(${b}) network connect`] = [];
  cases[`podman(${b}) network disconnect`] = [];
}

function cleanup() {
  polis(["delete", "--force", "polis-conn"]);
  for (const b of backends) podman(b, ["rm", "--force", "--time", "0", `pod-conn-${b}`]);
  // aardvark-dns (netavark's DNS server) exits with the network's last container; if not, by its pid
  try {
    const pid = Number(readFileSync("/run/containers/networks/aardvark-dns/aardvark.pid", "utf8"));
    if (pid > 1) process.kill(pid, "SIGKILL");
  } catch {
    // gone, or never started
  }
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const mnt = line.split(" ")[4];
    if (mnt?.startsWith(dir)) spawnSync("umount", ["-l", mnt]);
  }
}
process.on("exit", () => {
  if (existsSync(dir)) {
    cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});

mustPolis(["run", "-d", "--bundle", sleeper, "polis-conn"]);
for (const b of backends) {
  const r = podman(b, [
    "run",
    "-d",
    "--name",
    `pod-conn-${b}`,
    "--network",
    b === "cni" ? "benchnet" : "benchnav",
    "--rootfs",
    rootfs,
    "sleep",
    "3600",
  ]);
  if (r.status !== 0) throw new Error(`podman run: ${r.stderr}`);
}

const loadBefore = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
log(`bench: ${RUNS} runs each`);
for (let i = 0; i < RUNS; i++) {
  cases["polis run /bin/true"].push(ms(() => polis(["run", "--bundle", bundle, `p-plain-${i}`])));
  cases["polis run --network bench -p 8080:80 /bin/true"].push(
    ms(() => polis(["run", "--bundle", bundle, "--network", "bench", "-p", "8080:80", `p-net-${i}`])),
  );
  cases["polis network connect"].push(ms(() => polis(["network", "connect", "bench", "polis-conn"])));
  cases["polis network disconnect"].push(ms(() => polis(["network", "disconnect", "bench", "polis-conn"])));
  cases["polis run --network bench -p 8080:80 /bin/true, nft binary"].push(
    ms(() => polis(["run", "--bundle", bundle, "--network", "bench", "-p", "8080:80", `p-nft-${i}`], NFT_EXEC)),
  );
  cases["polis network connect, nft binary"].push(ms(() => polis(["network", "connect", "bench", "polis-conn"], NFT_EXEC)));
  cases["polis network disconnect, nft binary"].push(ms(() => polis(["network", "disconnect", "bench", "polis-conn"], NFT_EXEC)));
  for (const b of backends) {
    const net = b === "cni" ? "benchnet" : "benchnav";
    cases[`podman(${b}) run --network none /bin/true`].push(
      ms(() => podman(b, ["run", "--rm", "--network", "none", "--rootfs", rootfs, "/bin/true"])),
    );
    cases[`podman(${b}) run --network ${net} -p 8080:80 /bin/true`].push(
      ms(() => podman(b, ["run", "--rm", "--network", net, "-p", "8080:80", "--rootfs", rootfs, "/bin/true"])),
    );
    // a second network for a container already on a bridge (podman connects no "none" container)
    const net2 = b === "cni" ? "benchnet2" : "benchnav2";
    cases[`podman(${b}) network connect`].push(ms(() => podman(b, ["network", "connect", net2, `pod-conn-${b}`])));
    cases[`podman(${b}) network disconnect`].push(ms(() => podman(b, ["network", "disconnect", net2, `pod-conn-${b}`])));
  }
  log(`bench: iteration ${i + 1}/${RUNS}`);
}

// IPAM: allocate + release with 1,000 addresses held (the library, bundled from src/ by esbuild)
const ipamEntry = join(dir, "ipam-entry.ts");
writeFileSync(
  ipamEntry,
  `import { Store } from ${JSON.stringify(join(REPO, "src/state/store.ts"))};
import { networkSettings } from ${JSON.stringify(join(REPO, "src/network/config.ts"))};
import { createNetwork } from ${JSON.stringify(join(REPO, "src/network/networks.ts"))};
import { allocate, release } from ${JSON.stringify(join(REPO, "src/network/ipam.ts"))};
export function ipamBench(root: string) {
  const s = Store.open(root);
  const net = createNetwork(s, networkSettings(undefined), { name: "ipam", subnets: ["10.100.0.0/20"], ipv6: false, internal: false, disableDns: false, mtu: 0, labels: {} });
  for (let i = 0; i < 1000; i++) s.transaction(() => allocate(s, net, "c" + i));
  const alloc: number[] = [], rel: number[] = [];
  for (let i = 0; i < 200; i++) {
    let t = performance.now(); s.transaction(() => allocate(s, net, "x" + i)); alloc.push(performance.now() - t);
    t = performance.now(); s.transaction(() => release(s, "ipam", "x" + i)); rel.push(performance.now() - t);
  }
  s.close();
  return { alloc, rel };
}`,
);
const esbuild = await import(join(REPO, "node_modules", "esbuild", "lib", "main.js"));
// bundled next to the repository's node_modules, packages left external (better-sqlite3, yaml)
const out = join(REPO, "scripts", "bench", `.ipam-bench-${process.pid}.mjs`);
await esbuild.default.build({
  entryPoints: [ipamEntry],
  bundle: true,
  platform: "node",
  format: "esm",
  outfile: out,
  packages: "external",
  logLevel: "error",
});
let ipam;
try {
  ipam = (await import(out)).ipamBench(join(dir, "ipam-root"));
} finally {
  rmSync(out, { force: true });
}

// ---- cleanup (untimed)
cleanup();

// ---- report
const m = Object.fromEntries(Object.entries(cases).map(([k, v]) => [k, median(v)]));
const fmt = (x) => (Number.isFinite(x) ? x.toFixed(1) : "n/a");
const loadAfter = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
let md = `| command | median ms (${RUNS} runs) |\n|---|---|\n`;
for (const [k, v] of Object.entries(m)) if (Number.isFinite(v)) md += `| ${k} | ${fmt(v)} |\n`;
// Paired within each iteration (the two runs of one tool are next to each other), so that load
// drifting between iterations cancels: the median of the per-iteration differences, and for
// connect/disconnect the median of the per-iteration ratios.
const pairedAdded = (withNet, without) => median(cases[withNet].map((t, i) => t - cases[without][i]));
const pairedRatio = (a, b) => median(cases[a].map((t, i) => t / cases[b][i]));
const polisAdded = pairedAdded("polis run --network bench -p 8080:80 /bin/true", "polis run /bin/true");
md += `\n| added by the network (run with --network -p minus run without, paired per iteration) | median ms | ratio polis/anchor |\n|---|---|---|\n`;
md += `| polis | ${fmt(polisAdded)} | |\n`;
const polisAddedExec = pairedAdded("polis run --network bench -p 8080:80 /bin/true, nft binary", "polis run /bin/true");
md += `| polis, nft binary | ${fmt(polisAddedExec)} | |\n`;
for (const b of backends) {
  const net = b === "cni" ? "benchnet" : "benchnav";
  const added = pairedAdded(
    `podman(${b}) run --network ${net} -p 8080:80 /bin/true`,
    `podman(${b}) run --network none /bin/true`,
  );
  md += `| podman (${b}) | ${fmt(added)} | ${fmt(polisAdded / added)} |\n`;
}
md += `\n| network connect/disconnect of a running container | polis ms | anchor ms | median ratio polis/anchor per iteration |\n|---|---|---|---|\n`;
for (const b of backends) {
  for (const op of ["connect", "disconnect"]) {
    const [p, a] = [`polis network ${op}`, `podman(${b}) network ${op}`];
    md += `| ${op}: polis vs podman (${b}) | ${fmt(m[p])} | ${fmt(m[a])} | ${fmt(pairedRatio(p, a))} |\n`;
  }
}
md += `\n| IPAM with 1,000 addresses held (200 samples) | median ms | max ms |\n|---|---|---|\n`;
md += `| allocate (one transaction) | ${ipam.alloc.length ? median(ipam.alloc).toFixed(2) : "n/a"} | ${Math.max(...ipam.alloc).toFixed(2)} |\n`;
md += `| release (one transaction) | ${median(ipam.rel).toFixed(2)} | ${Math.max(...ipam.rel).toFixed(2)} |\n`;
md += `\nloadavg before ${loadBefore}, after ${loadAfter}; ${new Date().toISOString()}\n`;
process.stdout.write(md);
const resultsDir = join(REPO, "scripts", "bench", "results");
mkdirSync(resultsDir, { recursive: true });
writeFileSync(
  join(resultsDir, "network-latest.json"),
  JSON.stringify({ runs: RUNS, loadBefore, loadAfter, cases, ipam }, null, 1),
);
rmSync(dir, { recursive: true, force: true });
