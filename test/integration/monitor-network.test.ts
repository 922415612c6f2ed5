// The monitor and the network room together, inside a throw-away network+mount namespace
// (test/helpers/netns.ts): `run -d --logs --network` creates under the monitor with the network
// flags passed to its `polis create`, so the container is attached, logged and counted; delete
// gives back both.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NetContainers, httpGet } from "../helpers/netctr.js";
import { networkTestsUnavailable, TestNetns } from "../helpers/netns.js";
import { tempRoot, uniqueId } from "../helpers/polis.js";

const skip = networkTestsUnavailable();

describe.skipIf(skip)("monitor + network", () => {
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

  it("run -d --logs --network: attached, its output logged, its traffic in stats; delete gives back both", async () => {
    const id = uniqueId("mnet");
    c.run(["--logs", "--network", "polis"], ["sh", "-c", "ip -4 -o addr show eth0; exec httpd -f -p 80 -h /etc"], id);
    const inspect = () => JSON.parse(ns.polisOk(root, ["inspect", id]).stdout)[0];
    const i = inspect();
    expect(i.Monitor.Running).toBe(true);
    expect(i.Networks?.length).toBe(1);
    let log = "";
    for (let t = 0; t < 100 && !/inet (\d+\.\d+\.\d+\.\d+)/.test(log); t++) {
      log = ns.polisOk(root, ["logs", id]).stdout;
      await new Promise((r) => setTimeout(r, 100));
    }
    const ip = /inet (\d+\.\d+\.\d+\.\d+)/.exec(log)![1];
    const got = ns.sh(httpGet(ip));
    expect(got.stdout).toContain("root:");
    const [row] = JSON.parse(ns.polisOk(root, ["stats", "--no-stream", "--format", "json", id]).stdout);
    expect(row.net_output).toBeGreaterThan(0);
    ns.polisOk(root, ["delete", "--force", id]);
    expect(ns.exec("ip", ["-o", "link", "show", "type", "veth"]).stdout.trim()).toBe("");
    expect(ns.polis(root, ["logs", id]).stderr).toContain("does not exist");
  });
});
