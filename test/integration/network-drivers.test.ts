// `network create --driver macvlan|ipvlan -o parent=IF`: containers on the parent's LAN, with real
// traffic inside a throw-away network namespace (test/helpers/netns.ts). The "LAN" is one more
// namespace behind veth pairs whose test-side ends are the parents, with a busybox httpd on its
// side of each (the LAN's router/host). Checked from outside: links and routes in the
// containers' netns, traffic both ways, names, and that refused requests leave nothing.
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempRoot, uniqueId } from "../helpers/polis.js";
import { networkTestsUnavailable, TestNetns } from "../helpers/netns.js";
import { hostHttpGet, httpGet, NetContainers } from "../helpers/netctr.js";

const skip = networkTestsUnavailable() ?? pluginsMissing();
if (skip) console.log(`skipping network driver tests: ${skip}`);

function pluginsMissing(): string | undefined {
  for (const p of ["macvlan", "ipvlan"]) if (!existsSync(`/usr/lib/cni/${p}`)) return `/usr/lib/cni/${p} missing`;
  return undefined;
}

const HTTPD = ["httpd", "-f", "-p", "80", "-h", "/etc"];

describe.skipIf(skip)("macvlan and ipvlan networks", () => {
  let ns: TestNetns;
  let c: NetContainers;
  let lan = 0;
  const servers: number[] = [];
  const root = tempRoot();
  /** The error message of a failed polis call (logrus's msg="…", unquoted). */
  const message = (stderr: string) => {
    const m = /msg="((?:[^"\\]|\\.)*)"/.exec(stderr);
    return m ? m[1].replace(/\\(.)/g, "$1") : stderr;
  };
  const inspect = (net: string) => JSON.parse(ns.polisOk(root, ["network", "inspect", net]).stdout)[0];
  const links = () => ns.exec("ip", ["-o", "link"]).stdout.trim().split("\n").length;
  const lanGet = (ip: string) => ns.sh(`nsenter -t ${lan} -n ${hostHttpGet(ip)}`).stdout;
  /** `ip -d link show eth0` in the container's netns, with the host's ip (busybox's has no -d). */
  const linkDetails = (id: string) =>
    ns.exec("nsenter", ["-t", String(c.pid(id)), "-n", "ip", "-d", "link", "show", "eth0"]).stdout;
  /** Whether this kernel can make `kind` links (CONFIG_IPVLAN may be off). */
  const kernelHas = (kind: string, parent: string) =>
    ns.sh(`ip link add probe0 link ${parent} type ${kind} && ip link delete probe0`).code === 0;

  beforeAll(async () => {
    ns = await TestNetns.make();
    c = new NetContainers(ns, root);
    const r = ns.sh("unshare --net sleep 100000 >/dev/null 2>&1 & echo $!");
    lan = Number(r.stdout.trim());
    const o = `nsenter -t ${lan} -n`;
    // two wires to the LAN: mvp0 (macvlan's parent) and ivp0 (ipvlan's: a device is the parent of one kind only)
    const setup = ns.sh(
      `sleep 0.2; ${o} ip link set lo up && ` +
        `ip link add mvp0 type veth peer name mvp1 netns ${lan} && ip link set mvp0 up && ` +
        `${o} ip addr add 10.80.0.254/24 dev mvp1 && ${o} ip link set mvp1 up && ` +
        `ip link add ivp0 type veth peer name ivp1 netns ${lan} && ip link set ivp0 up && ` +
        `${o} ip addr add 10.81.0.254/24 dev ivp1 && ${o} ip link set ivp1 up && ` +
        `${o} busybox httpd -f -p 80 -h /etc >/dev/null 2>&1 & echo $!`,
    );
    if (setup.code !== 0) throw new Error(setup.stderr);
    servers.push(Number(setup.stdout.trim()));
  });
  afterAll(() => {
    c.cleanup();
    for (const pid of [...servers, lan]) {
      try {
        if (pid) process.kill(pid, "SIGKILL");
      } catch {
        // gone
      }
    }
    ns.close();
  });

  it("macvlan: containers on the parent's LAN reach each other by name, the LAN, and are reached from it", () => {
    ns.polisOk(root, [
      "network",
      "create",
      "-d",
      "macvlan",
      "-o",
      "parent=mvp0",
      "--subnet",
      "10.80.0.0/24",
      "--gateway",
      "10.80.0.254",
      "mv",
    ]);
    const net = inspect("mv");
    expect(net).toMatchObject({ driver: "macvlan", network_interface: "mvp0", options: { parent: "mvp0", mode: "bridge" } });
    expect(net.firewall.rules).toEqual([]);
    const before = links();
    const web = c.run(["--network", "mv", "--alias", "web"], HTTPD);
    const client = c.run(["--network", "mv"], ["sleep", "1000"]);
    const webIp = inspect("mv").containers[web].addresses[0].split("/")[0];
    expect(linkDetails(web)).toMatch(/macvlan mode bridge/);
    expect(c.sh(client, "ip route").stdout).toContain("default via 10.80.0.254 dev eth0");
    for (const name of ["web", "web.mv", web]) expect(c.sh(client, httpGet(name)).stdout).toContain("root:");
    expect(c.sh(client, httpGet("10.80.0.254")).stdout).toContain("root:"); // the LAN's host
    expect(lanGet(webIp)).toContain("root:"); // and back, at the container's own address
    expect(links()).toBe(before); // the children live in the containers' namespaces only

    // a container made without a network, connected later
    const late = c.started(["sleep", "1000"], (b) => writeFileSync(join(b, "rootfs", "etc", "hosts"), "127.0.0.1\tlocalhost\n"));
    ns.polisOk(root, ["network", "connect", "--ip", "10.80.0.77", "mv", late]);
    expect(c.sh(late, httpGet("web")).stdout).toContain("root:");
    ns.polisOk(root, ["network", "disconnect", "mv", late]);
    expect(c.sh(late, "ip link show eth0").code).not.toBe(0);

    ns.polisOk(root, ["delete", "--force", web]);
    expect(lanGet(webIp)).not.toContain("root:");
    expect(Object.keys(inspect("mv").containers)).toEqual([client]);
    // its address is free again
    const again = c.run(["--network", "mv", "--ip", webIp], ["sleep", "1000"]);
    expect(inspect("mv").containers[again].addresses).toEqual([`${webIp}/24`]);
  });

  it("ipvlan (l2): the same on a parent of its own (or, on a kernel without ipvlan, one clear error)", () => {
    ns.polisOk(root, [
      "network",
      "create",
      "--driver",
      "ipvlan",
      "-o",
      "parent=ivp0",
      "--subnet",
      "10.81.0.0/24",
      "--gateway",
      "10.81.0.254",
      "iv",
    ]);
    if (!kernelHas("ipvlan", "ivp0")) {
      console.log("ipvlan traffic not tested: this kernel has no ipvlan (CONFIG_IPVLAN)");
      const id = uniqueId("noipvlan");
      const r = ns.polis(root, ["run", "-d", "--bundle", c.bundle(["sleep", "1000"], id), "--network", "iv", id]);
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(message(r.stderr)).toContain(
        "network iv: CNI plugin ipvlan ADD failed: failed to create ipvlan: operation not supported",
      );
      expect(ns.polis(root, ["state", id]).code).not.toBe(0);
      expect(inspect("iv").containers).toEqual({});
      return;
    }
    const web = c.run(["--network", "iv", "--alias", "web"], HTTPD);
    const client = c.run(["--network", "iv"], ["sleep", "1000"]);
    expect(linkDetails(web)).toMatch(/ipvlan {1,2}mode l2/);
    expect(c.sh(client, httpGet("web.iv")).stdout).toContain("root:");
    expect(c.sh(client, httpGet("10.81.0.254")).stdout).toContain("root:");
    expect(lanGet(inspect("iv").containers[web].addresses[0].split("/")[0])).toContain("root:");
  });

  it("bad input: one clear line, exit 1, nothing made", () => {
    const gone = "gone0";
    ns.sh(`ip link add ${gone} type veth peer name gone1`);
    ns.polisOk(root, ["network", "create", "-d", "macvlan", "-o", `parent=${gone}`, "--subnet", "10.82.0.0/24", "vanish"]);
    ns.sh(`ip link delete ${gone}`);
    const cases: [string[], string][] = [
      [
        ["network", "create", "-d", "macvlan", "--subnet", "10.83.0.0/24", "x1"],
        "--driver macvlan: give -o parent=INTERFACE (there is no default route to take it from)",
      ],
      [
        ["network", "create", "-d", "macvlan", "-o", "parent=nosuch0", "--subnet", "10.83.0.0/24", "x2"],
        "-o parent=nosuch0: no such network interface",
      ],
      [["network", "create", "-d", "macvlan", "-o", "parent=mvp0", "x3"], "--driver macvlan needs --subnet"],
      [
        ["network", "create", "-d", "ipvlan", "-o", "parent=ivp0", "-o", "mode=vepa", "--subnet", "10.83.0.0/24", "x4"],
        "-o mode=vepa: ipvlan modes are l2, l3, l3s",
      ],
      [["network", "create", "-d", "overlay", "x5"], "--driver overlay: unknown driver (bridge, macvlan, ipvlan)"],
      [["network", "create", "-o", "parent=mvp0", "x6"], "-o parent: not an option of the bridge driver"],
    ];
    for (const [args, msg] of cases) {
      const r = ns.polis(root, args);
      expect(r.code, args.join(" ")).toBe(1);
      expect(r.stderr.trim().split("\n"), args.join(" ")).toHaveLength(1);
      expect(message(r.stderr)).toContain(msg);
    }
    expect(ns.polisOk(root, ["network", "ls", "-q"]).stdout).not.toMatch(/x\d/);
    // with a default route, its interface is the parent (podman's default)
    ns.sh("ip route add default dev mvp0");
    ns.polisOk(root, ["network", "create", "-d", "macvlan", "--subnet", "10.84.0.0/24", "byroute"]);
    ns.sh("ip route del default dev mvp0");
    expect(inspect("byroute").options.parent).toBe("mvp0");

    const before = links();
    const runCases: [string[], string][] = [
      [
        ["--network", "mv", "-p", "8080:80"],
        "--publish: network mv uses the macvlan driver: its containers are reached at their own addresses",
      ],
      [["--network", "vanish"], `network vanish: -o parent=${gone}: no such network interface`],
    ];
    for (const [flags, msg] of runCases) {
      const id = uniqueId("bad");
      const r = ns.polis(root, ["run", "-d", "--bundle", c.bundle(["sleep", "1000"], id), ...flags, id]);
      expect(r.code, flags.join(" ")).toBe(1);
      expect(r.stderr.trim().split("\n"), flags.join(" ")).toHaveLength(1);
      expect(message(r.stderr)).toContain(msg);
      expect(ns.polis(root, ["state", id]).code).not.toBe(0);
      expect(inspect(flags[1]).containers[id]).toBeUndefined();
    }
    expect(inspect("vanish").containers).toEqual({});
    expect(links()).toBe(before);
  });
});
