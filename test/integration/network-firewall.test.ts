// Isolation between networks, --internal, egress through masquerade and IPv6 dual stack, with
// real traffic inside a throw-away network namespace. "Outside" is one more namespace behind a
// veth pair (198.51.100.0/24), with a busybox httpd.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO } from "../helpers/rootfs.js";
import { tempRoot } from "../helpers/polis.js";
import { networkTestsUnavailable, TestNetns } from "../helpers/netns.js";
import { hostHttpGet, httpGet, NetContainers } from "../helpers/netctr.js";

const skip = networkTestsUnavailable();

describe.skipIf(skip)("network isolation, internal networks, IPv6", () => {
  let ns: TestNetns;
  let c: NetContainers;
  let outside = 0;
  const servers: number[] = []; // started in namespaces, outliving them: killed by pid after
  const dirs: string[] = [];
  const root = tempRoot();
  beforeAll(async () => {
    ns = await TestNetns.make();
    c = new NetContainers(ns, root);
    // the outside world: a netns behind up0/up1, default route back to us, an HTTP server
    const r = ns.sh("unshare --net sleep 100000 >/dev/null 2>&1 & echo $!");
    outside = Number(r.stdout.trim());
    const o = `nsenter -t ${outside} -n`;
    const setup = ns.sh(
      `sleep 0.2; ip link add up0 type veth peer name up1 netns ${outside} && ip addr add 198.51.100.1/24 dev up0 && ip link set up0 up && ` +
        `${o} ip link set lo up && ${o} ip addr add 198.51.100.2/24 dev up1 && ${o} ip link set up1 up && ${o} ip route add default via 198.51.100.1 && ` +
        `${o} busybox httpd -f -p 80 -h /etc >/dev/null 2>&1 & echo $!`,
    );
    if (setup.code !== 0) throw new Error(setup.stderr);
    servers.push(Number(setup.stdout.trim()));
  });
  afterAll(() => {
    c.cleanup();
    for (const pid of [...servers, outside]) {
      try {
        if (pid) process.kill(pid, "SIGKILL");
      } catch {
        // gone
      }
    }
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    ns.close();
  });

  it("a container reaches the outside through masquerade; an --internal network has no egress", () => {
    ns.polisOk(root, ["network", "create", "--subnet", "10.62.0.0/24", "out"]);
    ns.polisOk(root, ["network", "create", "--subnet", "10.62.1.0/24", "--internal", "closed"]);
    const a = c.started(["sleep", "1000"]);
    const b = c.started(["sleep", "1000"]);
    ns.polisOk(root, ["network", "connect", "out", a]);
    ns.polisOk(root, ["network", "connect", "closed", b]);
    expect(c.sh(a, httpGet("198.51.100.2")).stdout).toContain("root:");
    const closed = c.sh(b, httpGet("198.51.100.2"));
    expect(closed.stdout).not.toContain("root:");
    expect(c.sh(b, "ip route").stdout).not.toContain("default");
    // even with a route put in by hand, the firewall drops it
    c.sh(b, "ip route add default dev eth0");
    expect(c.sh(b, httpGet("198.51.100.2")).stdout).not.toContain("root:");
    const rules = JSON.parse(ns.polisOk(root, ["network", "inspect", "closed"]).stdout)[0].firewall.rules.join("\n");
    expect(rules).toMatch(/forward: iifname "polis\d+" oifname != "polis\d+" drop/);
    expect(ns.exec("nft", ["list", "table", "inet", "polis"]).stdout).toContain(`comment "closed internal"`);
  });

  it("names that are not containers go to the host's resolvers (resolv.conf from the host's)", () => {
    // the test netns's own /etc/resolv.conf (its mount namespace is private): a resolver outside
    const dir = mkdtempSync(join(tmpdir(), "polis-resolv-"));
    dirs.push(dir);
    const fake = join(dir, "resolv.conf");
    writeFileSync(fake, "nameserver 127.0.0.53\nnameserver 198.51.100.2\noptions timeout:2\n");
    expect(ns.exec("mount", ["--bind", fake, "/etc/resolv.conf"]).code).toBe(0);
    const dns = ns.sh(
      `nsenter -t ${outside} -n python3 ${join(REPO, "test", "helpers", "dns-responder.py")} 198.51.100.2 198.51.100.2 >/dev/null 2>&1 & echo $!`,
    );
    servers.push(Number(dns.stdout.trim()));
    // started in the background: the lookups below would race its bind under load
    const bound = () => ns.sh(`nsenter -t ${outside} -n ss -Huln src 198.51.100.2:53`).stdout.trim() !== "";
    for (let i = 0; i < 200 && !bound(); i++) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
    expect(bound()).toBe(true);
    ns.polisOk(root, ["network", "create", "--subnet", "10.65.0.0/24", "resolv"]);
    const id = c.run(["--network", "resolv"], ["sleep", "1000"]);
    const conf = c.sh(id, "cat /etc/resolv.conf").stdout;
    expect(conf).toContain("nameserver 198.51.100.2");
    expect(conf).not.toContain("127.0.0.53"); // unreachable from the container's netns
    expect(c.sh(id, httpGet("www.example.test")).stdout).toContain("root:");
    expect(c.sh(id, "nslookup nothere.invalid").code).not.toBe(0);
  });

  it("containers on two networks cannot reach each other", () => {
    ns.polisOk(root, ["network", "create", "--subnet", "10.63.0.0/24", "left"]);
    ns.polisOk(root, ["network", "create", "--subnet", "10.63.1.0/24", "right"]);
    const l = c.started(["httpd", "-f", "-p", "80", "-h", "/etc"]);
    const r = c.started(["httpd", "-f", "-p", "80", "-h", "/etc"]);
    const both = c.started(["sleep", "1000"]);
    ns.polisOk(root, ["network", "connect", "--ip", "10.63.0.5", "left", l]);
    ns.polisOk(root, ["network", "connect", "--ip", "10.63.1.5", "right", r]);
    ns.polisOk(root, ["network", "connect", "left", both]);
    ns.polisOk(root, ["network", "connect", "right", both]);
    // the host (the test netns) reaches both; a container on both networks reaches both
    expect(ns.sh(hostHttpGet("10.63.1.5")).stdout).toContain("root:");
    expect(c.sh(both, httpGet("10.63.0.5")).stdout).toContain("root:");
    expect(c.sh(both, httpGet("10.63.1.5")).stdout).toContain("root:");
    // but left's container does not reach right's
    expect(c.sh(l, httpGet("10.63.1.5")).stdout).not.toContain("root:");
    expect(c.sh(r, httpGet("10.63.0.5")).stdout).not.toContain("root:");
  });

  it("IPv6 published ports are reached from another machine at the host's IPv6 address", () => {
    // the wire to the outside gets IPv6 too (nodad: usable at once)
    const o = `nsenter -t ${outside} -n`;
    const setup = ns.sh(`ip -6 addr add fd51::1/64 dev up0 nodad && ${o} ip -6 addr add fd51::2/64 dev up1 nodad`);
    expect(setup.code, setup.stderr).toBe(0);
    ns.polisOk(root, ["network", "create", "--ipv6", "--subnet", "10.67.0.0/24", "--subnet", "fd67::/64", "pub6"]);
    const id = c.run(
      ["--network", "pub6", "-p", "8096:80", "-p", "[fd51::1]:8097:80"],
      ["httpd", "-f", "-p", "80", "-h", "/etc"],
    );
    for (const port of [8096, 8097])
      expect(ns.sh(`${o} ${hostHttpGet("fd51::1", port)}`).stdout, String(port)).toContain("root:");
    expect(ns.sh(`${o} ${hostHttpGet("198.51.100.1", 8096)}`).stdout).toContain("root:");
    expect(ns.sh(`${o} ${hostHttpGet("198.51.100.1", 8097)}`).stdout).not.toContain("root:"); // bound to fd51::1 only
    ns.polisOk(root, ["delete", "--force", id]);
    expect(ns.sh(`${o} ${hostHttpGet("fd51::1", 8096)}`).stdout).not.toContain("root:");
  });

  it("IPv6 dual stack: both families assigned and routed between containers", () => {
    ns.polisOk(root, ["network", "create", "--ipv6", "--subnet", "10.64.0.0/24", "--subnet", "fd64::/64", "dual"]);
    const a = c.started(["httpd", "-f", "-p", "80", "-h", "/etc"]);
    const b = c.started(["sleep", "1000"]);
    ns.polisOk(root, ["network", "connect", "dual", a]);
    ns.polisOk(root, ["network", "connect", "dual", b]);
    const addrs = c.sh(a, "ip -o addr show eth0").stdout;
    expect(addrs).toContain("inet 10.64.0.2/24");
    expect(addrs).toContain("inet6 fd64::2/64");
    expect(c.sh(b, "ping -6 -c 1 -W 3 fd64::2").code).toBe(0);
    expect(c.sh(b, httpGet("fd64::2")).stdout).toContain("root:");
    const net = JSON.parse(ns.polisOk(root, ["network", "inspect", "dual"]).stdout)[0];
    expect(net.ipv6_enabled).toBe(true);
    expect(net.containers[a].addresses).toEqual(["10.64.0.2/24", "fd64::2/64"]);
  });
});
