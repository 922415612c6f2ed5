// Networks with real parts, inside a throw-away network+mount namespace (test/helpers/netns.ts):
// containers made by `polis create`, attached with `polis network connect`, traffic checked with
// busybox from inside the containers and from the (test) host.
import { rmSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { busyboxBundle } from "../helpers/rootfs.js";
import { tempRoot, uniqueId } from "../helpers/polis.js";
import { networkTestsUnavailable, TestNetns } from "../helpers/netns.js";

const skip = networkTestsUnavailable();
if (skip) console.log(`skipping network tests: ${skip}`);

describe.skipIf(skip)("network connect / disconnect", () => {
  let ns: TestNetns;
  const root = tempRoot();
  const bundles: string[] = [];
  beforeAll(async () => {
    ns = await TestNetns.make();
  });
  afterAll(() => {
    for (const c of JSON.parse(ns.polis(root, ["list", "--format", "json"]).stdout || "null") ?? []) ns.polis(root, ["delete", "--force", c.id]);
    ns.close();
    rmSync(root, { recursive: true, force: true });
    for (const b of bundles) rmSync(b, { recursive: true, force: true });
  });

  function container(args: string[]): string {
    const id = uniqueId("net");
    const b = busyboxBundle((c) => {
      c.process.args = args;
      c.linux.cgroupsPath = `/polis-test/${id}`;
    });
    bundles.push(b);
    ns.polisOk(root, ["create", "--bundle", b, id]);
    ns.polisOk(root, ["start", id]);
    return id;
  }
  const pidOf = (id: string) => JSON.parse(ns.polisOk(root, ["state", id]).stdout).pid as number;
  // busybox-static's wget segfaults on Debian 12 (also on the host): HTTP by hand over nc.
  const get = (host: string, path = "/passwd") => `printf 'GET ${path} HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${host} 80`;
  const inCtr = (id: string, cmd: string) => ns.exec("nsenter", ["-t", String(pidOf(id)), "-n", "-m", "-p", "-r", "-w", "--", "/bin/sh", "-c", cmd], { timeout: 20_000 });

  it("two containers on one network talk; disconnect removes the interface, the address and the rules", () => {
    ns.polisOk(root, ["network", "create", "--subnet", "10.61.0.0/24", "front"]);
    const web = container(["httpd", "-f", "-p", "80", "-h", "/etc"]);
    const client = container(["sleep", "1000"]);
    ns.polisOk(root, ["network", "connect", "--ip", "10.61.0.10", "front", web]);
    ns.polisOk(root, ["network", "connect", "front", client]);
    expect(inCtr(web, "ip -o -4 addr show eth0").stdout).toContain("10.61.0.10/24");
    const got = inCtr(client, get("10.61.0.10"));
    expect(got.stdout).toContain("root:");
    const inspect = JSON.parse(ns.polisOk(root, ["network", "inspect", "front"]).stdout)[0];
    expect(Object.keys(inspect.containers).sort()).toEqual([web, client].sort());
    expect(inspect.network_interface).toMatch(/^polis\d+$/);
    expect(ns.exec("ip", ["-o", "addr", "show", inspect.network_interface]).stdout).toContain("10.61.0.1/24");

    ns.polisOk(root, ["network", "disconnect", "front", web]);
    expect(inCtr(web, "ip link show eth0").code).not.toBe(0);
    expect(inCtr(client, get("10.61.0.10")).stdout).not.toContain("root:");
    expect(Object.keys(JSON.parse(ns.polisOk(root, ["network", "inspect", "front"]).stdout)[0].containers)).toEqual([client]);
    // the address is free again
    ns.polisOk(root, ["network", "connect", "--ip", "10.61.0.10", "front", web]);
  });

  it("network rm of a network in use is refused; --force deletes its containers", () => {
    ns.polisOk(root, ["network", "create", "busy"]);
    const c = container(["sleep", "1000"]);
    ns.polisOk(root, ["network", "connect", "busy", c]);
    const r = ns.polis(root, ["network", "rm", "busy"]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain(`network busy is in use by container ${c}`);
    ns.polisOk(root, ["network", "rm", "--force", "busy"]);
    expect(ns.polis(root, ["state", c]).code).not.toBe(0);
    expect(ns.polisOk(root, ["network", "ls", "-q"]).stdout).not.toContain("busy");
  });
});
