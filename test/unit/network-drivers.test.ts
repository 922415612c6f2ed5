import { describe, expect, it } from "vitest";
import { networkSettings } from "../../src/network/config.js";
import { conflistFor } from "../../src/network/conflist.js";
import { chooseDriver, parseOptions } from "../../src/network/drivers.js";
import { networkRules } from "../../src/network/firewall.js";
import { createNetwork } from "../../src/network/networks.js";
import { listNetworks } from "../../src/state/networks.js";
import { tempStores } from "../helpers/store.js";

const store = tempStores("drivers");
const settings = networkSettings(undefined);
const opts = (name: string, extra = {}) => ({
  name,
  subnets: ["192.168.50.0/24"],
  ipv6: false,
  internal: false,
  disableDns: false,
  mtu: 0,
  labels: {},
  ...extra,
});

describe("driver options", () => {
  it("-o items are key=value", () => {
    expect(parseOptions(["parent=eth0", "mode=l3"])).toEqual({ parent: "eth0", mode: "l3" });
    expect(() => parseOptions(["parent"])).toThrow("-o parent: expected key=value");
    expect(() => parseOptions(["=x"])).toThrow("-o =x: expected key=value");
  });

  it("refuses unknown drivers, options and modes, a missing subnet and an unknown parent", () => {
    expect(() => chooseDriver("overlay", {}, true)).toThrow("--driver overlay: unknown driver (bridge, macvlan, ipvlan)");
    expect(() => chooseDriver("bridge", { parent: "lo" }, true)).toThrow("-o parent: not an option of the bridge driver (mtu)");
    expect(() => chooseDriver("macvlan", { parent: "lo", vlan: "3" }, true)).toThrow(
      "-o vlan: not an option of the macvlan driver",
    );
    expect(() => chooseDriver("macvlan", { parent: "lo", mode: "l2" }, true)).toThrow(
      "-o mode=l2: macvlan modes are bridge, private, vepa, passthru",
    );
    expect(() => chooseDriver("ipvlan", { parent: "lo", mode: "bridge" }, true)).toThrow(
      "-o mode=bridge: ipvlan modes are l2, l3, l3s",
    );
    expect(() => chooseDriver("macvlan", { parent: "lo" }, false)).toThrow("--driver macvlan needs --subnet");
    expect(() => chooseDriver("macvlan", { parent: "nosuchif0" }, true)).toThrow(
      "-o parent=nosuchif0: no such network interface",
    );
    expect(() => chooseDriver("ipvlan", { parent: "a/b" }, true)).toThrow("-o parent=a/b: not an interface name");
    expect(() => chooseDriver("bridge", { mtu: "x" }, true)).toThrow("-o mtu=x: not a number");
    expect(chooseDriver("ipvlan", { parent: "lo" }, true)).toEqual({ driver: "ipvlan", options: { parent: "lo", mode: "l2" } });
    expect(chooseDriver("bridge", { mtu: "1400" }, false)).toEqual({ driver: "bridge", options: {}, mtu: 1400 });
  });

  it("a refused create records nothing", () => {
    const s = store();
    try {
      expect(() => createNetwork(s, settings, opts("mv", { driver: "macvlan", options: { parent: "nosuchif0" } }))).toThrow(
        "no such network interface",
      );
      expect(() => createNetwork(s, settings, opts("mv", { driver: "macvlan", options: { parent: "lo" }, ipv6: true }))).toThrow(
        "--ipv6: a macvlan network needs its IPv6 --subnet too",
      );
      expect(listNetworks(s)).toEqual([]);
    } finally {
      s.close();
    }
  });
});

describe("macvlan / ipvlan networks", () => {
  it("are recorded with their parent and mode, no bridge, exactly the subnets given", () => {
    const s = store();
    try {
      const mv = createNetwork(s, settings, opts("mv", { driver: "macvlan", options: { parent: "lo", mtu: "1400" } }));
      expect(mv).toMatchObject({ driver: "macvlan", bridge: "", options: { parent: "lo", mode: "bridge" }, mtu: 1400 });
      expect(mv.subnets).toEqual([{ subnet: "192.168.50.0/24", gateway: "192.168.50.1" }]);
      // two of them may share a parent (no bridge name to clash on); a bridge network still gets polis1
      const iv = createNetwork(
        s,
        settings,
        opts("iv", { driver: "ipvlan", subnets: ["192.168.51.0/24"], options: { parent: "lo" } }),
      );
      expect(iv).toMatchObject({ bridge: "", options: { parent: "lo", mode: "l2" } });
      expect(createNetwork(s, settings, opts("br", { subnets: [] })).bridge).toBe("polis1");
      expect(listNetworks(s).find((n) => n.name === "mv")?.options).toEqual({ parent: "lo", mode: "bridge" });
      expect(networkRules(mv)).toEqual({ postrouting: [], forward: [] });
    } finally {
      s.close();
    }
  });

  it("the CNI list: the driver's plugin on the parent, static IPAM with a default route unless internal", () => {
    const base = {
      name: "mv",
      id: "x",
      driver: "macvlan",
      bridge: "",
      subnets: [
        { subnet: "192.168.50.0/24", gateway: "192.168.50.254" },
        { subnet: "fd50::/64", gateway: "fd50::1" },
      ],
      ipv6: true,
      internal: false,
      dns: true,
      mtu: 1400,
      labels: {},
      options: { parent: "eth9", mode: "private" },
      created: "",
    };
    const list = conflistFor(base, ["192.168.50.2/24", "fd50::2/64"]);
    expect(list.plugins).toEqual([
      {
        type: "macvlan",
        master: "eth9",
        mode: "private",
        mtu: 1400,
        ipam: {
          type: "static",
          addresses: [
            { address: "192.168.50.2/24", gateway: "192.168.50.254" },
            { address: "fd50::2/64", gateway: "fd50::1" },
          ],
          routes: [{ dst: "0.0.0.0/0" }, { dst: "::/0" }],
        },
      },
    ]);
    const internal = conflistFor({ ...base, driver: "ipvlan", internal: true, options: { parent: "eth9", mode: "l3" } }, [
      "192.168.50.2/24",
    ]);
    expect(internal.plugins[0]).toMatchObject({
      type: "ipvlan",
      mode: "l3",
      ipam: { addresses: [{ address: "192.168.50.2/24" }] },
    });
    expect((internal.plugins[0].ipam as Record<string, unknown>).routes).toBeUndefined();
  });
});
