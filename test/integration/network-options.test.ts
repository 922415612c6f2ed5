// The remaining options, each with real traffic or a look from outside, in a throw-away
// network+mount namespace (test/helpers/netns.ts): the default network made on first use and the
// subnet pool, both from polis's config file; --gateway and --ip-range; --disable-dns;
// --network host.
import { mkdtempSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempRoot, uniqueId } from "../helpers/polis.js";
import { networkTestsUnavailable, TestNetns } from "../helpers/netns.js";
import { hostHttpGet, httpGet, NetContainers } from "../helpers/netctr.js";

const skip = networkTestsUnavailable();
const HTTPD = ["httpd", "-f", "-p", "80", "-h", "/etc"];

describe.skipIf(skip)("network options", () => {
  let ns: TestNetns;
  let c: NetContainers;
  const root = tempRoot();
  const scratch = mkdtempSync(join(tmpdir(), "polis-netopts-"));
  const config = join(scratch, "config.yaml");
  beforeAll(async () => {
    ns = await TestNetns.make();
    c = new NetContainers(ns, root);
    writeFileSync(
      config,
      "network:\n  default_network: dflt\n  default_subnet: 10.124.0.0/24\n  default_subnet_pools: [{ base: 10.125.0.0/16, size: 26 }]\n",
    );
  });
  afterAll(() => {
    c.cleanup();
    ns.close();
    rmSync(scratch, { recursive: true, force: true });
  });
  const inspect = (net: string) => JSON.parse(ns.polisOk(root, ["network", "inspect", net]).stdout)[0];
  /** The error message of a failed polis call (logrus's msg="…", unquoted). */
  const message = (stderr: string) => {
    const m = /msg="((?:[^"\\]|\\.)*)"/.exec(stderr);
    return m ? m[1].replace(/\\(.)/g, "$1") : stderr;
  };

  it("the default network is made on first use, and subnets come from the configured pool", () => {
    expect(ns.polisOk(root, ["--config", config, "network", "ls", "-q"]).stdout).toBe("dflt\n"); // ls shows it, as podman's
    ns.polisOk(root, ["--config", config, "network", "rm", "dflt"]);
    expect(ns.exec("ip", ["link", "show", "polis0"]).code).not.toBe(0);
    // -p without --network: the default network, made now, with the configured subnet
    const id = uniqueId("dflt");
    ns.polisOk(root, ["--config", config, "run", "-d", "--bundle", c.bundle(HTTPD, id), "-p", "8088:80", id]);
    const net = inspect("dflt");
    expect(net.subnets).toEqual([{ subnet: "10.124.0.0/24", gateway: "10.124.0.1" }]);
    expect(net.network_interface).toBe("polis0");
    expect(net.containers[id].addresses).toEqual(["10.124.0.2/24"]);
    expect(ns.sh(hostHttpGet("127.0.0.1", 8088)).stdout).toContain("root:");
    for (const [name, subnet] of [
      ["pool1", "10.125.0.0/26"],
      ["pool2", "10.125.0.64/26"],
    ]) {
      ns.polisOk(root, ["--config", config, "network", "create", name]);
      expect(inspect(name).subnets[0].subnet).toBe(subnet);
    }
  });

  it("--gateway and --ip-range: the bridge and the default route use the gateway; addresses come from the range", () => {
    ns.polisOk(root, [
      "network",
      "create",
      "--subnet",
      "10.68.0.0/24",
      "--gateway",
      "10.68.0.254",
      "--ip-range",
      "10.68.0.128/28",
      "ranged",
    ]);
    const net = inspect("ranged");
    expect(net.subnets).toEqual([{ subnet: "10.68.0.0/24", gateway: "10.68.0.254", lease_range: "10.68.0.128/28" }]);
    const a = c.run(["--network", "ranged"], HTTPD);
    const b = c.run(["--network", "ranged"], ["sleep", "1000"]);
    const addrs = [a, b].map((id) => inspect("ranged").containers[id].addresses[0]);
    for (const addr of addrs) expect(addr).toMatch(/^10\.68\.0\.(12[89]|13\d|14[0-3])\/24$/);
    expect(new Set(addrs).size).toBe(2);
    expect(ns.exec("ip", ["-o", "-4", "addr", "show", net.network_interface]).stdout).toContain("10.68.0.254/24");
    expect(c.sh(b, "ip route").stdout).toContain("default via 10.68.0.254");
    expect(c.sh(b, httpGet(addrs[0].split("/")[0])).stdout).toContain("root:");
    // an address outside the range but inside the subnet may still be asked for by --ip
    const fixed = c.run(["--network", "ranged", "--ip", "10.68.0.9"], ["sleep", "1000"]);
    expect(inspect("ranged").containers[fixed].addresses).toEqual(["10.68.0.9/24"]);
    const r = ns.polis(root, ["network", "create", "--subnet", "10.69.0.0/24", "--ip-range", "10.70.0.0/28", "badrange"]);
    expect(r.code).toBe(1);
    expect(message(r.stderr)).toContain("--ip-range 10.70.0.0/28: outside subnet 10.69.0.0/24");
  });

  it("--disable-dns: neighbours are not in the hosts file (addresses still work), podman's dns_enabled false", () => {
    ns.polisOk(root, ["network", "create", "--disable-dns", "quiet"]);
    expect(inspect("quiet").dns_enabled).toBe(false);
    const web = c.run(["--network", "quiet", "--alias", "web"], HTTPD);
    const client = c.run(["--network", "quiet"], ["sleep", "1000"]);
    const hosts = c.sh(client, "cat /etc/hosts").stdout;
    expect(hosts).not.toContain(web);
    expect(hosts).not.toContain("web");
    expect(c.sh(client, httpGet("web")).stdout).not.toContain("root:");
    expect(c.sh(client, httpGet(inspect("quiet").containers[web].addresses[0].split("/")[0])).stdout).toContain("root:");
  });

  it("--network host: the host's network namespace, nothing attached; -p/--ip/--alias refused", () => {
    const id = c.run(["--network", "host"], ["sleep", "1000"]);
    expect(readlinkSync(`/proc/${c.pid(id)}/ns/net`)).toBe(readlinkSync(`/proc/${ns.pid}/ns/net`));
    for (const flag of [
      ["-p", "8089:80"],
      ["--ip", "10.68.0.10"],
      ["--alias", "x"],
    ]) {
      const bad = uniqueId("host");
      const r = ns.polis(root, ["run", "-d", "--bundle", c.bundle(["sleep", "1000"], bad), "--network", "host", ...flag, bad]);
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(message(r.stderr)).toContain("needs a network to attach to, not --network host");
      expect(ns.polis(root, ["state", bad]).code).not.toBe(0);
    }
  });
});
