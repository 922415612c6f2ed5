// `polis network …` on containers made without network flags (`create` + `start`), attached with
// `network connect`, inside a throw-away network+mount namespace (test/helpers/netns.ts). Checked
// from outside: addresses in the container's netns, the bridge, traffic, the events table.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempRoot } from "../helpers/polis.js";
import { networkTestsUnavailable, TestNetns } from "../helpers/netns.js";
import { httpGet, NetContainers } from "../helpers/netctr.js";

const skip = networkTestsUnavailable();
if (skip) console.log(`skipping network tests: ${skip}`);

describe.skipIf(skip)("network create / connect / disconnect / rm / prune", () => {
  let ns: TestNetns;
  let c: NetContainers;
  const root = tempRoot();
  beforeAll(async () => {
    ns = await TestNetns.make();
    c = new NetContainers(ns, root);
  });
  afterAll(() => {
    c.cleanup();
    ns.close();
  });
  const inspect = (net: string) => JSON.parse(ns.polisOk(root, ["network", "inspect", net]).stdout)[0];

  it("two containers on one network talk; disconnect removes the interface, the address and the rules", () => {
    ns.polisOk(root, ["network", "create", "--subnet", "10.61.0.0/24", "--mtu", "1400", "--label", "team=web", "front"]);
    const web = c.started(["httpd", "-f", "-p", "80", "-h", "/etc"]);
    const client = c.started(["sleep", "1000"]);
    ns.polisOk(root, ["network", "connect", "--ip", "10.61.0.10", "front", web]);
    ns.polisOk(root, ["network", "connect", "front", client]);
    expect(c.sh(web, "ip -o -4 addr show eth0").stdout).toContain("10.61.0.10/24");
    expect(c.sh(web, "ip -o link show eth0").stdout).toContain("mtu 1400");
    expect(c.sh(web, "ip -o link show lo").stdout).toContain("UP");
    expect(c.sh(client, httpGet("10.61.0.10")).stdout).toContain("root:");
    const net = inspect("front");
    expect(Object.keys(net.containers).sort()).toEqual([web, client].sort());
    expect(net.labels).toEqual({ team: "web" });
    expect(net.options).toEqual({ mtu: "1400" });
    expect(ns.exec("ip", ["-o", "addr", "show", net.network_interface]).stdout).toContain("10.61.0.1/24");
    const ls = JSON.parse(ns.polisOk(root, ["network", "ls", "--format", "json"]).stdout);
    expect(ls.map((n: { name: string }) => n.name)).toEqual(expect.arrayContaining(["front", "polis"]));

    ns.polisOk(root, ["network", "disconnect", "front", web]);
    expect(c.sh(web, "ip link show eth0").code).not.toBe(0);
    expect(c.sh(client, httpGet("10.61.0.10")).stdout).not.toContain("root:");
    expect(Object.keys(inspect("front").containers)).toEqual([client]);
    const again = ns.polis(root, ["network", "disconnect", "front", web]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`container ${web} is not connected to network front`);
    // the address is free again
    ns.polisOk(root, ["network", "connect", "--ip", "10.61.0.10", "front", web]);
    // the engine's event history (contract: events table) records each step
    const db = new Database(`${root}/state.db`, { readonly: true });
    const events = db.prepare("SELECT action FROM events WHERE type = 'network' AND id = ? ORDER BY seq").all(web) as {
      action: string;
    }[];
    db.close();
    expect(events.map((e) => e.action)).toEqual(["connect", "disconnect", "connect"]);
  });

  it("network rm of a network in use is refused; --force deletes its containers; prune keeps the default", () => {
    ns.polisOk(root, ["network", "create", "busy"]);
    ns.polisOk(root, ["network", "create", "idle"]);
    const cid = c.started(["sleep", "1000"]);
    ns.polisOk(root, ["network", "connect", "busy", cid]);
    const bridge = inspect("busy").network_interface;
    const r = ns.polis(root, ["network", "rm", "busy"]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain(`network busy is in use by container ${cid}`);
    ns.polisOk(root, ["network", "rm", "--force", "busy"]);
    expect(ns.polis(root, ["state", cid]).code).not.toBe(0);
    expect(ns.exec("ip", ["link", "show", bridge]).code).not.toBe(0);
    expect(ns.polisOk(root, ["network", "prune"]).stdout).toBe("idle\n");
    expect(ns.polisOk(root, ["network", "ls", "-q"]).stdout.split("\n")).toEqual(expect.arrayContaining(["polis", "front"]));
  });

  it("a container made without a network, connected later, gets polis's /etc/hosts and resolv.conf (kept current)", () => {
    ns.polisOk(root, ["network", "create", "--subnet", "10.66.0.0/24", "names"]);
    ns.polisOk(root, ["network", "create", "--subnet", "10.66.1.0/24", "names2"]);
    const web = c.run(["--network", "names", "--alias", "web"], ["httpd", "-f", "-p", "80", "-h", "/etc"]);
    let bundle = "";
    const own = "127.0.0.1\tlocalhost\n";
    const late = c.started(["sleep", "1000"], (b) => {
      bundle = b;
      writeFileSync(join(b, "rootfs", "etc", "hosts"), own);
    });
    const mounts = () => c.sh(late, "grep -c ' /etc/hosts ' /proc/self/mountinfo").stdout.trim();
    expect(mounts()).toBe("0");
    ns.polisOk(root, ["network", "connect", "--alias", "latecomer", "names", late]);
    expect(c.sh(late, httpGet("web")).stdout).toContain("root:");
    expect(c.sh(late, httpGet(`${web}.names`)).stdout).toContain("root:");
    expect(c.sh(web, "cat /etc/hosts").stdout).toContain("latecomer.names");
    expect(c.sh(late, "cat /etc/resolv.conf").stdout).not.toMatch(/nameserver 127\./);
    expect(mounts()).toBe("1");
    // kept current in place: a newcomer, a second network, disconnects; mounted once
    const newer = c.run(["--network", "names", "--alias", "newer"], ["sleep", "1000"]);
    expect(c.sh(late, "cat /etc/hosts").stdout).toContain("newer.names");
    ns.polisOk(root, ["network", "connect", "names2", late]);
    expect(mounts()).toBe("1");
    ns.polisOk(root, ["network", "disconnect", "names", late]);
    expect(c.sh(late, "cat /etc/hosts").stdout).not.toContain("web");
    expect(c.sh(late, "cat /etc/hosts").stdout).toContain(`${late}.names2`);
    // the bundle's own file was never written
    expect(readFileSync(join(bundle, "rootfs", "etc", "hosts"), "utf8")).toBe(own);
    for (const id of [late, newer]) ns.polisOk(root, ["delete", "--force", id]);
    expect(existsSync(join(root, "network", "containers", late))).toBe(false);

    // a read-only root without the files: nothing to mount on; the network works, a warning says why
    const bare = c.started(["httpd", "-f", "-p", "80", "-h", "/etc"]);
    const r = ns.polisOk(root, ["network", "connect", "--ip", "10.66.0.50", "names", bare]);
    expect(r.stderr).toContain(
      `container ${bare}: its root is read-only and has no /etc/hosts or /etc/resolv.conf to mount polis's over`,
    );
    expect(c.sh(web, httpGet("10.66.0.50")).stdout).toContain("root:");
  });

  it("foreground run on a network: the container sees its address; afterwards nothing is left", () => {
    const id = `fg-${process.pid}`;
    const r = ns.polisOk(root, [
      "run",
      "--bundle",
      c.bundle(["ip", "-o", "-4", "addr", "show", "eth0"], id),
      "--network",
      "front",
      id,
    ]);
    expect(r.stdout).toMatch(/inet 10\.61\.0\.\d+\/24/);
    expect(Object.keys(inspect("front").containers)).not.toContain(id);
    // create --network attaches before create returns; start leaves it alone
    const created = `${id}c`;
    ns.polisOk(root, [
      "create",
      "--bundle",
      c.bundle(["sleep", "1000"], created),
      "--network",
      "front",
      "--ip",
      "10.61.0.77",
      created,
    ]);
    expect(c.sh(created, "ip -o -4 addr show eth0").stdout).toContain("10.61.0.77/24");
    ns.polisOk(root, ["start", created]);
    expect(inspect("front").containers[created].addresses).toEqual(["10.61.0.77/24"]);
    ns.polisOk(root, ["delete", "--force", created]);
    expect(inspect("front").containers[created]).toBeUndefined();
    const none = ns.polisOk(root, [
      "run",
      "--bundle",
      c.bundle(["ip", "-o", "link"], `${id}n`),
      "--network",
      "none",
      `${id}n`,
    ]).stdout;
    expect(none).toMatch(/^1: lo: <LOOPBACK,UP,LOWER_UP>/);
    expect(none.trim().split("\n")).toHaveLength(1);
  });
});
