// `polis run --network … -p …` end to end, inside a throw-away network+mount namespace
// (test/helpers/netns.ts): names between containers, published ports from the (test) host and
// from containers (hairpin), `network reload` after a firewall flush, 20 concurrent runs, a polis
// SIGKILLed mid-attach, and bad input that must leave nothing behind. Traffic is real: busybox
// httpd/nc in the containers, a python3 UDP echo in a container's netns.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempRoot, uniqueId, waitFor } from "../helpers/polis.js";
import { networkTestsUnavailable, TestNetns } from "../helpers/netns.js";
import { hostHttpGet, httpGet, NetContainers } from "../helpers/netctr.js";

const skip = networkTestsUnavailable();
const HOST_IP = "192.0.2.10"; // the test netns's "public" address (on lo: no dummy module needed)
const HTTPD = ["httpd", "-f", "-p", "80", "-h", "/etc"];

describe.skipIf(skip)("run --network, -p, names", () => {
  let ns: TestNetns;
  let c: NetContainers;
  const root = tempRoot();
  const scratch = mkdtempSync(join(tmpdir(), "polis-nettest-"));
  const servers: number[] = []; // a server in a container's netns but not its cgroup: killed by pid
  beforeAll(async () => {
    ns = await TestNetns.make();
    c = new NetContainers(ns, root);
    const r = ns.sh(`ip addr add ${HOST_IP}/32 dev lo`);
    if (r.code !== 0) throw new Error(r.stderr);
  });
  afterAll(() => {
    for (const pid of servers) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone
      }
    }
    c.cleanup();
    ns.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  /** The error message of a failed polis call (logrus's msg="…", unquoted). */
  const message = (stderr: string) => {
    const m = /msg="((?:[^"\\]|\\.)*)"/.exec(stderr);
    return m ? m[1].replace(/\\(.)/g, "$1") : stderr;
  };
  const inspect = (net: string) => JSON.parse(ns.polisOk(root, ["network", "inspect", net]).stdout)[0];
  const veths = () => ns.exec("ip", ["-o", "link", "show", "type", "veth"]).stdout.trim().split("\n").filter(Boolean).length;
  const table = () => ns.exec("nft", ["list", "table", "inet", "polis"]).stdout;
  const hostGet = (ip: string, port: number) => ns.sh(hostHttpGet(ip, port)).stdout;
  const udpEcho = (ip: string, port: number) =>
    ns
      .exec("python3", [
        "-c",
        `import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.settimeout(3);s.sendto(b"hello",("${ip}",${port}));print(s.recv(100).decode())`,
      ])
      .stdout.trim();

  it("containers resolve each other by name, alias and name.NETWORK, not other networks' names", () => {
    ns.polisOk(root, ["network", "create", "app"]);
    ns.polisOk(root, ["network", "create", "other"]);
    const web = c.run(["--network", "app", "--alias", "web"], HTTPD);
    const client = c.run(["--network", "app"], ["sleep", "1000"]);
    const stranger = c.run(["--network", "other"], HTTPD);
    for (const name of ["web", "web.app", web, `${web}.app`]) expect(c.sh(client, httpGet(name)).stdout).toContain("root:");
    const hosts = c.sh(client, "cat /etc/hosts").stdout;
    expect(hosts).toContain(`${client}.app`);
    expect(hosts).not.toContain(stranger);
    expect(c.sh(client, httpGet(stranger)).stdout).not.toContain("root:");
    expect(c.sh(client, "cat /etc/resolv.conf").stdout).not.toMatch(/nameserver 127\./);
    // kept current: a newcomer is known to the old ones, and forgotten when it leaves
    const late = c.run(["--network", "app", "--alias", "late"], HTTPD);
    expect(c.sh(client, httpGet("late.app")).stdout).toContain("root:");
    ns.polisOk(root, ["network", "connect", "--alias", "bridged", "other", client]);
    expect(c.sh(stranger, "cat /etc/hosts").stdout).toContain("bridged.other");
    ns.polisOk(root, ["delete", "--force", late]);
    expect(c.sh(client, "cat /etc/hosts").stdout).not.toContain("late");
    // its own file follows its disconnects; the files go with the container
    expect(c.sh(client, "cat /etc/hosts").stdout).toContain(stranger);
    ns.polisOk(root, ["network", "disconnect", "other", client]);
    expect(c.sh(client, "cat /etc/hosts").stdout).not.toContain(stranger);
    ns.polisOk(root, ["network", "disconnect", "app", client]);
    expect(c.sh(client, "cat /etc/hosts").stdout).not.toContain(web);
    // `polis inspect` lists its networks: none left (lo and the kept files are not networks)
    const before = JSON.parse(ns.polisOk(root, ["inspect", web]).stdout)[0].Networks;
    expect(before.map((n: { name: string }) => n.name)).toEqual(["app"]);
    expect(JSON.parse(ns.polisOk(root, ["inspect", client]).stdout)[0].Networks).toBeUndefined();
    expect(existsSync(join(root, "network", "containers", client))).toBe(true);
    ns.polisOk(root, ["delete", "--force", client]);
    expect(existsSync(join(root, "network", "containers", client))).toBe(false);
  });

  it("publishes TCP, UDP, ranges and a host address; reachable from the host, localhost and containers (hairpin)", async () => {
    ns.polisOk(root, ["network", "create", "pub"]);
    const id = c.run(
      ["--network", "pub", "-p", "8080:80", "-p", "9000-9002:7000-7002", "-p", "127.0.0.1:8181:80", "-p", "5353:5353/udp"],
      HTTPD,
    );
    for (const p of [7000, 7001, 7002]) c.sh(id, `httpd -p ${p} -h /etc`);
    // a UDP echo in the container's netns (busybox has no UDP server)
    const echo = ns.sh(
      `nsenter -t ${c.pid(id)} -n python3 -c 'import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(("0.0.0.0",5353))\nwhile True:\n d,a=s.recvfrom(100);s.sendto(d,a)' >/dev/null 2>&1 & echo $!`,
    );
    servers.push(Number(echo.stdout.trim()));
    // python binds a moment later: a datagram before that only earns a port-unreachable
    const bound = () => readFileSync(`/proc/${c.pid(id)}/net/udp`, "utf8").includes(":14E9 "); // 5353
    await waitFor(bound, 10_000);
    expect(hostGet(HOST_IP, 8080)).toContain("root:");
    expect(hostGet("127.0.0.1", 8080)).toContain("root:");
    expect(hostGet(HOST_IP, 9001)).toContain("root:");
    expect(hostGet(HOST_IP, 9002)).toContain("root:");
    expect(hostGet("127.0.0.1", 8181)).toContain("root:");
    expect(hostGet(HOST_IP, 8181)).not.toContain("root:"); // bound to 127.0.0.1 only
    expect(udpEcho(HOST_IP, 5353)).toBe("hello");
    expect(udpEcho("127.0.0.1", 5353)).toBe("hello");
    // hairpin: the container itself and a neighbour, through the host's address
    const neighbour = c.run(["--network", "pub"], ["sleep", "1000"]);
    expect(c.sh(id, httpGet(HOST_IP, 8080)).stdout).toContain("root:");
    expect(c.sh(neighbour, httpGet(HOST_IP, 8080)).stdout).toContain("root:");
    // another network reaches it only through the published port
    const far = c.run(["--network", "app"], ["sleep", "1000"]);
    expect(c.sh(far, httpGet(HOST_IP, 8080)).stdout).toContain("root:");
    const rules = inspect("pub").firewall.rules.join("\n");
    expect(rules).toContain(`tcp dport 8080 dnat ip to ${inspect("pub").containers[id].addresses[0].split("/")[0]}:80`);
    expect(inspect("pub").containers[id].ports).toContain("127.0.0.1:8181->80/tcp");

    // a port already published: one clear line, nothing made
    const again = uniqueId("dup");
    const r = ns.polis(root, ["run", "-d", "--bundle", c.bundle(HTTPD, again), "--network", "pub", "-p", "8080:80", again]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(message(r.stderr)).toContain(`--publish: host port 8080/tcp is already published by container ${id}`);
    expect(ns.polis(root, ["state", again]).code).not.toBe(0);
    expect(Object.keys(inspect("pub").containers)).not.toContain(again);

    // `nft flush ruleset` (a host firewall reload) loses the ports; `network reload` brings them back
    ns.exec("nft", ["flush", "ruleset"]);
    expect(hostGet(HOST_IP, 8080)).not.toContain("root:");
    ns.polisOk(root, ["network", "reload", "--all"]);
    expect(hostGet(HOST_IP, 8080)).toContain("root:");
    expect(hostGet("127.0.0.1", 8080)).toContain("root:");

    // delete: no veth, no rule, no address left
    const before = veths();
    const addr = inspect("pub").containers[id].addresses[0];
    ns.polisOk(root, ["delete", "--force", id]);
    expect(veths()).toBe(before - 1);
    expect(table()).not.toContain(id);
    expect(JSON.stringify(inspect("pub"))).not.toContain(addr);
    expect(hostGet(HOST_IP, 8080)).not.toContain("root:");
    expect(existsSync(join(root, "network", "containers", id))).toBe(false);
  });

  it("IPv6: a dual-stack network publishes ports on the host's IPv6 addresses too", () => {
    ns.sh("ip -6 addr add fd00:ffff::10/128 dev lo nodad");
    ns.polisOk(root, ["network", "create", "--ipv6", "dual6"]);
    const id = c.run(["--network", "dual6", "-p", "8090:80"], HTTPD);
    const addrs: string[] = inspect("dual6").containers[id].addresses;
    expect(addrs).toHaveLength(2);
    expect(addrs[1]).toMatch(/^fd89:/);
    expect(hostGet("fd00:ffff::10", 8090)).toContain("root:");
    expect(hostGet(HOST_IP, 8090)).toContain("root:");
    expect(table()).toContain(`dnat ip6 to [${addrs[1].split("/")[0]}]:80`);
    // ::1 is not forwarded (the kernel cannot): refused at once, not a SYN dropped until a timeout
    const loop = ns.exec("python3", [
      "-c",
      `import socket,time;t=time.time()\ntry:\n socket.create_connection(("::1",8090),timeout=5);print("connected")\nexcept ConnectionRefusedError:print("refused %.1f" % (time.time()-t))`,
    ]).stdout;
    expect(loop).toMatch(/^refused 0\.\d/);
    const bad = uniqueId("loop6");
    const r = ns.polis(root, ["run", "-d", "--bundle", c.bundle(HTTPD, bad), "--network", "dual6", "-p", "[::1]:8091:80", bad]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(message(r.stderr)).toContain("--publish [::1]:8091:80: a port cannot be published on ::1");
    expect(ns.polis(root, ["state", bad]).code).not.toBe(0);
    ns.polisOk(root, ["delete", "--force", id]);
    expect(hostGet("fd00:ffff::10", 8090)).not.toContain("root:");
  });

  it("20 concurrent run --network get 20 distinct addresses, and give them back", async () => {
    ns.polisOk(root, ["network", "create", "crowd"]);
    const ids = Array.from({ length: 20 }, () => uniqueId("crowd"));
    // a bundle (and so a cgroup) each: containers sharing one cgroup rewrite each other's device
    // rules while they are created, which is not what this test is about
    const bundles = ids.map((id) => c.bundle(["sleep", "1000"], id));
    const runs = ids.map(
      (id, i) =>
        new Promise<string>((resolve) => {
          const p = ns.spawnPolis(root, ["run", "-d", "--bundle", bundles[i], "--network", "crowd", id]);
          p.on("exit", (code) => resolve(`${code ?? -1}${code === 0 ? "" : `: ${p.errText()}`}`));
        }),
    );
    // each run's exit code (and its stderr when it failed, so that a failure says why)
    expect(await Promise.all(runs)).toEqual(ids.map(() => "0"));
    const members = inspect("crowd").containers;
    const addrs = ids.map((id) => members[id].addresses[0]);
    expect(new Set(addrs).size).toBe(20);
    for (const id of ids) expect(c.sh(id, "ip -o -4 addr show eth0").stdout).toContain(members[id].addresses[0]);
    const deletes = ids.map((id) => new Promise((resolve) => ns.spawnPolis(root, ["delete", "--force", id]).on("exit", resolve)));
    await Promise.all(deletes);
    expect(inspect("crowd").containers).toEqual({});
    expect(table()).not.toMatch(/crowd-/);
  }, 120_000);

  it("a polis SIGKILLed in the middle of the attach: delete --force leaves nothing", async () => {
    // a `bridge` that announces itself and dawdles before doing its job
    const slow = join(scratch, "slow-cni");
    mkdirSync(slow, { recursive: true });
    const marker = join(scratch, "bridge-started");
    writeFileSync(join(slow, "bridge"), `#!/bin/sh\ntouch ${marker}\nsleep 1\nexec /usr/lib/cni/bridge "$@"\n`);
    chmodSync(join(slow, "bridge"), 0o755);
    const config = join(scratch, "slow.yaml");
    writeFileSync(config, `network:\n  cni_plugin_dirs: [${slow}, /usr/lib/cni]\n`);
    ns.polisOk(root, ["network", "create", "killed"]);
    const before = veths();
    const id = uniqueId("killed");
    const p = ns.spawnPolis(root, [
      "--config",
      config,
      "run",
      "-d",
      "--bundle",
      c.bundle(["sleep", "1000"], id),
      "--network",
      "killed",
      "-p",
      "7777:80",
      id,
    ]);
    await waitFor(() => existsSync(marker), 20_000);
    p.kill("SIGKILL");
    await new Promise((r) => p.on("exit", r));
    expect(Object.keys(inspect("killed").containers)).toEqual([id]); // reserved, half-plumbed
    ns.polisOk(root, ["delete", "--force", id]);
    await new Promise((r) => setTimeout(r, 1500)); // the orphaned plugin finishes (and fails: no netns)
    await waitFor(() => veths() === before, 10_000);
    expect(inspect("killed").containers).toEqual({});
    expect(table()).not.toContain(id);
    expect(existsSync(join(root, "network", "containers", id))).toBe(false);
    expect(ns.polis(root, ["state", id]).code).not.toBe(0);
  });

  it("the loopback plugin gets a DEL after every ADD: delete, --network none, delete --force, SIGKILL mid-attach", async () => {
    // a `loopback` that logs each call, and a `bridge` that dawdles (to SIGKILL polis during the ADDs)
    const dir = join(scratch, "logging-cni");
    mkdirSync(dir, { recursive: true });
    const calls = join(scratch, "loopback-calls");
    writeFileSync(
      join(dir, "loopback"),
      `#!/bin/sh\necho "$CNI_COMMAND $CNI_CONTAINERID" >> ${calls}\nexec /usr/lib/cni/loopback "$@"\n`,
    );
    const started = join(scratch, "slow-bridge-started");
    writeFileSync(join(dir, "bridge"), `#!/bin/sh\ntouch ${started}\nsleep 1\nexec /usr/lib/cni/bridge "$@"\n`);
    for (const f of ["loopback", "bridge"]) chmodSync(join(dir, f), 0o755);
    const config = join(scratch, "logging.yaml");
    writeFileSync(config, `network:\n  cni_plugin_dirs: [${dir}, /usr/lib/cni]\n`);
    const log = (id: string) =>
      (existsSync(calls) ? readFileSync(calls, "utf8") : "")
        .split("\n")
        .filter((l) => l.endsWith(` ${id}`))
        .map((l) => l.split(" ")[0]);
    const withConfig = (args: string[]) => ns.polisOk(root, ["--config", config, ...args]);
    ns.polisOk(root, ["network", "create", "lonet"]);

    const detached = uniqueId("lo");
    withConfig(["run", "-d", "--bundle", c.bundle(["sleep", "1000"], detached), "--network", "lonet", detached]);
    expect(log(detached)).toEqual(["ADD"]);
    withConfig(["kill", detached, "KILL"]);
    await waitFor(() => JSON.parse(ns.polisOk(root, ["state", detached]).stdout).status === "stopped", 10_000);
    withConfig(["delete", detached]);
    expect(log(detached)).toEqual(["ADD", "DEL"]);

    const none = uniqueId("lo");
    withConfig(["run", "--bundle", c.bundle(["true"], none), "--network", "none", none]);
    expect(log(none)).toEqual(["ADD", "DEL"]);
    const forced = uniqueId("lo");
    withConfig(["run", "-d", "--bundle", c.bundle(["sleep", "1000"], forced), "--network", "none", forced]);
    withConfig(["delete", "--force", forced]);
    expect(log(forced)).toEqual(["ADD", "DEL"]);

    const killed = uniqueId("lo");
    const p = ns.spawnPolis(root, [
      "--config",
      config,
      "run",
      "-d",
      "--bundle",
      c.bundle(["sleep", "1000"], killed),
      "--network",
      "lonet",
      killed,
    ]);
    // killed while the bridge ADD dawdles, once the loopback ADD (run beside it) has begun
    await waitFor(() => existsSync(started) && log(killed).length === 1, 20_000);
    p.kill("SIGKILL");
    await new Promise((r) => p.on("exit", r));
    expect(log(killed)).toEqual(["ADD"]);
    withConfig(["delete", "--force", killed]);
    expect(log(killed)).toEqual(["ADD", "DEL"]);
    const db = new Database(join(root, "state.db"), { readonly: true });
    expect(
      db
        .prepare("SELECT count(*) AS n FROM container_resources WHERE container_id IN (?, ?, ?, ?)")
        .get(detached, none, forced, killed),
    ).toEqual({ n: 0 });
    db.close();
  });

  it("after a reboot (processes, rules and netns gone, records kept): delete --force frees everything", async () => {
    ns.polisOk(root, ["network", "create", "reboot"]);
    const before = veths();
    const id = c.run(["--network", "reboot", "-p", "7878:80"], HTTPD);
    const pid = c.pid(id);
    const address = inspect("reboot").containers[id].addresses[0].split("/")[0];
    // what a reboot leaves: the state file; no process, no netns, no firewall; another boot id
    const db = new Database(join(root, "state.db"));
    const row = db.prepare("SELECT result FROM network_attachments WHERE container_id = ?").get(id) as { result: string };
    const result = JSON.parse(row.result);
    result.netnsId = `another-boot ${result.netnsId.split(" ")[1]}`;
    db.prepare("UPDATE network_attachments SET result = ? WHERE container_id = ?").run(JSON.stringify(result), id);
    db.close();
    process.kill(pid, "SIGKILL");
    ns.exec("nft", ["flush", "ruleset"]);
    await waitFor(() => veths() === before, 10_000);
    ns.polisOk(root, ["delete", "--force", id]);
    expect(inspect("reboot").containers).toEqual({});
    expect(table()).not.toContain(id);
    expect(existsSync(join(root, "network", "containers", id))).toBe(false);
    // the address and the port are free again
    const again = c.run(["--network", "reboot", "--ip", address, "-p", "7878:80"], HTTPD);
    expect(hostGet(HOST_IP, 7878)).toContain("root:");
    ns.polisOk(root, ["delete", "--force", again]);
  });

  it("bad input: one clear line, exit 1, nothing half-made", () => {
    ns.polisOk(root, ["network", "create", "--subnet", "10.70.0.0/24", "strict"]);
    const emptyDir = join(scratch, "no-plugins");
    mkdirSync(emptyDir, { recursive: true });
    const noCni = join(scratch, "no-cni.yaml");
    writeFileSync(noCni, `network:\n  cni_plugin_dirs: [${emptyDir}]\n`);
    const holder = c.run(["--network", "strict", "--ip", "10.70.0.9"], ["sleep", "1000"]);
    const cases: [string[], string][] = [
      [
        ["network", "create", "--subnet", "10.70.0.0/16", "clash"],
        "--subnet 10.70.0.0/16: overlaps network strict (10.70.0.0/24)",
      ],
      [["network", "create", "--subnet", "10.70.0/24", "bad"], `--subnet: "10.70.0/24" is not a CIDR`],
      [
        ["network", "create", "--subnet", "10.71.0.0/24", "--gateway", "10.72.0.1", "bad"],
        "--gateway 10.72.0.1: outside subnet 10.71.0.0/24",
      ],
      [["network", "rm", "strict"], `network strict is in use by container ${holder}`],
      [["network", "inspect", "nosuch"], "network nosuch: no such network"],
    ];
    for (const [args, msg] of cases) {
      const r = ns.polis(root, args);
      expect(r.code, args.join(" ")).toBe(1);
      expect(r.stderr.trim().split("\n"), args.join(" ")).toHaveLength(1);
      expect(message(r.stderr)).toContain(msg);
    }
    expect(ns.polisOk(root, ["network", "ls", "-q"]).stdout).not.toMatch(/clash|bad/);
    const runCases: [string[], string, string[]?][] = [
      [["--network", "nosuch"], "network nosuch: no such network"],
      [["--network", "strict", "--ip", "10.99.0.5"], "--ip 10.99.0.5: outside network strict's subnet 10.70.0.0/24"],
      [["--network", "strict", "--ip", "10.70.0.9"], `--ip 10.70.0.9: already taken on network strict by container ${holder}`],
      [["--network", "strict", "-p", "80"], "--publish 80: expected [hostIP:]hostPort:containerPort[/tcp|udp]"],
      [["--network", "strict"], `CNI plugin "loopback" not found in ${emptyDir}`, ["--config", noCni]],
    ];
    const vethsBefore = veths();
    for (const [flags, msg, global] of runCases) {
      const id = uniqueId("bad");
      const r = ns.polis(root, [...(global ?? []), "run", "-d", "--bundle", c.bundle(["sleep", "1000"], id), ...flags, id]);
      expect(r.code, flags.join(" ")).toBe(1);
      expect(r.stderr.trim().split("\n"), flags.join(" ")).toHaveLength(1);
      expect(message(r.stderr)).toContain(msg);
      expect(ns.polis(root, ["state", id]).code).not.toBe(0);
      expect(Object.keys(inspect("strict").containers)).toEqual([holder]);
      expect(existsSync(join(root, "network", "containers", id))).toBe(false);
      expect(table()).not.toContain(id);
    }
    expect(veths()).toBe(vethsBefore);
    // a second polis root in the same network namespace: refused, since bridges and the table
    // are per host, and nothing of it is left
    const other = tempRoot();
    try {
      const oid = uniqueId("other");
      const o = ns.polis(other, ["run", "-d", "--bundle", c.bundle(["sleep", "1000"], oid), "--network", "elsewhere", oid], {});
      expect(o.code).toBe(1); // unknown network first
      ns.polisOk(other, ["network", "create", "--subnet", "10.71.0.0/24", "elsewhere"]);
      const o2 = ns.polis(other, ["run", "-d", "--bundle", c.bundle(["sleep", "1000"], oid), "--network", "elsewhere", oid]);
      expect(o2.code).toBe(1);
      expect(message(o2.stderr)).toContain(
        `nftables table inet polis belongs to polis root ${root}: two roots cannot both use networks on one host`,
      );
      expect(ns.polis(other, ["state", oid]).code).not.toBe(0);
      expect(JSON.parse(ns.polisOk(other, ["network", "inspect", "elsewhere"]).stdout)[0].containers).toEqual({});
      expect(veths()).toBe(vethsBefore);
      expect(table()).toContain(`comment "polis root ${root}"`);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
    // a bundle that cannot be created: the network's reservation is taken back too
    const id = uniqueId("bad");
    const r = ns.polis(root, [
      "run",
      "-d",
      "--bundle",
      join(scratch, "no-such-bundle"),
      "--network",
      "strict",
      "-p",
      "6060:80",
      id,
    ]);
    expect(r.code).toBe(1);
    expect(existsSync(join(root, "network", "containers", id))).toBe(false);
    const db = new Database(join(root, "state.db"), { readonly: true });
    expect(db.prepare("SELECT count(*) AS n FROM container_resources WHERE container_id = ?").get(id)).toEqual({ n: 0 });
    db.close();
  });
});
