import { describe, expect, it } from "vitest";
import { firstFreeSubnet, formatCidr, formatIp, overlaps, parseCidr, parseIp } from "../../src/network/cidr.js";
import { networkSettings } from "../../src/network/config.js";
import { allocate, release } from "../../src/network/ipam.js";
import { createNetwork, findNetwork, removeNetworkRecord } from "../../src/network/networks.js";
import { duplicateIn, parsePublish } from "../../src/network/ports.js";
import { rulesetText } from "../../src/network/firewall.js";
import { hostsText } from "../../src/network/names.js";
import { conflistFor } from "../../src/network/conflist.js";
import { allocatedAddresses, insertAttachment, type NetworkRecord } from "../../src/state/networks.js";
import { tempStores } from "../helpers/store.js";

const store = tempStores("ipam");
const settings = networkSettings(undefined);
const opts = (name: string, extra = {}) => ({
  name,
  subnets: [],
  ipv6: false,
  internal: false,
  disableDns: false,
  mtu: 0,
  labels: {},
  ...extra,
});

describe("cidr", () => {
  it("parses and formats IPv4 and IPv6", () => {
    expect(formatCidr(parseCidr("10.89.0.0/24"))).toBe("10.89.0.0/24");
    expect(formatCidr(parseCidr("fd00:0:0:1::/64"))).toBe("fd00:0:0:1::/64");
    expect(formatIp(6, parseIp("fd00::1:0:0:2").value)).toBe("fd00::1:0:0:2");
    expect(formatIp(6, parseIp("::ffff:10.0.0.1").value)).toBe("::ffff:a00:1");
    expect(formatIp(4, parseIp("192.168.1.255").value)).toBe("192.168.1.255");
  });
  it("refuses bad CIDRs with the flag's name", () => {
    expect(() => parseCidr("10.89.0.0", "--subnet")).toThrow(/^--subnet: "10.89.0.0" is not a CIDR/);
    expect(() => parseCidr("10.89.0.0/33", "--subnet")).toThrow(/prefix \/33 is longer than 32 bits/);
    expect(() => parseCidr("10.89.0.1/24", "--subnet")).toThrow(/host bits set \(did you mean 10.89.0.0\/24\?\)/);
    expect(() => parseCidr("300.1.1.0/24")).toThrow(/not a CIDR/);
  });
  it("overlap and pools", () => {
    expect(overlaps(parseCidr("10.0.0.0/8"), parseCidr("10.89.0.0/24"))).toBe(true);
    expect(overlaps(parseCidr("10.89.1.0/24"), parseCidr("10.89.0.0/24"))).toBe(false);
    expect(overlaps(parseCidr("10.0.0.0/8"), parseCidr("fd00::/8"))).toBe(false);
    const pool = parseCidr("10.89.0.0/16");
    expect(formatCidr(firstFreeSubnet(pool, 24, [parseCidr("10.89.0.0/24"), parseCidr("10.89.2.0/23")])!)).toBe("10.89.1.0/24");
    expect(firstFreeSubnet(parseCidr("10.89.0.0/23"), 24, [parseCidr("10.89.0.0/23")])).toBeUndefined();
  });
});

describe("config", () => {
  it("defaults, and errors naming the key and file", () => {
    expect(settings.defaultNetwork).toBe("polis");
    expect(formatCidr(settings.defaultSubnet)).toBe("10.88.0.0/16");
    expect(() => networkSettings({ bogus: 1 }, "/etc/polis/config.yaml")).toThrow(
      'config file /etc/polis/config.yaml: unknown key "network.bogus"',
    );
    expect(() => networkSettings({ default_subnet_pools: [{ base: "10.0.0.0/16", size: 8 }] }, "f")).toThrow(
      /default_subnet_pools\[0\].size/,
    );
  });
});

describe("networks", () => {
  it("takes subnets from the pool, refuses overlap and duplicates", () => {
    const s = store();
    const a = createNetwork(s, settings, opts("a"));
    const b = createNetwork(s, settings, opts("b", { ipv6: true }));
    expect(a.subnets).toEqual([{ subnet: "10.89.0.0/24", gateway: "10.89.0.1" }]);
    expect(b.subnets.map((x) => x.subnet)).toEqual(["10.89.1.0/24", "fd89::/64"]);
    expect([a.bridge, b.bridge]).toEqual(["polis1", "polis2"]);
    expect(() => createNetwork(s, settings, opts("c", { subnets: ["10.89.0.0/16"] }))).toThrow(
      "--subnet 10.89.0.0/16: overlaps network a (10.89.0.0/24)",
    );
    expect(() => createNetwork(s, settings, opts("a"))).toThrow("network a already exists");
    expect(() => createNetwork(s, settings, opts("d", { subnets: ["10.1.0.0/24"], gateway: "10.2.0.1" }))).toThrow(
      "--gateway 10.2.0.1: outside subnet 10.1.0.0/24",
    );
    expect(() => createNetwork(s, settings, opts("none"))).toThrow(/reserved/);
    expect(findNetwork(s, settings, "polis").subnets[0].subnet).toBe("10.88.0.0/16");
    expect(() => findNetwork(s, settings, "nope")).toThrow("network nope: no such network");
  });
  it("refuses to remove a network in use", () => {
    const s = store();
    createNetwork(s, settings, opts("a"));
    insertAttachment(s, { network: "a", containerId: "c1", ifname: "eth0", aliases: [], addresses: [], created: "" });
    expect(() => removeNetworkRecord(s, "a")).toThrow("network a is in use by container c1");
  });
});

describe("ipam", () => {
  it("lowest free address, skipping network, gateway; --ip checked; released", () => {
    const s = store();
    const net = createNetwork(s, settings, opts("a", { subnets: ["10.5.0.0/29"], ipRange: "10.5.0.0/30" }));
    const tx = (fn: () => string[]) => s.transaction(fn);
    expect(tx(() => allocate(s, net, "c1"))).toEqual(["10.5.0.2/29"]);
    expect(tx(() => allocate(s, net, "c2"))).toEqual(["10.5.0.3/29"]);
    expect(() => tx(() => allocate(s, net, "c3"))).toThrow("network a: no free address left in 10.5.0.0/30");
    expect(() => tx(() => allocate(s, net, "c3", ["10.5.0.3"]))).toThrow(
      "--ip 10.5.0.3: already taken on network a by container c2",
    );
    expect(() => tx(() => allocate(s, net, "c3", ["10.6.0.3"]))).toThrow("--ip 10.6.0.3: outside network a's subnet 10.5.0.0/29");
    expect(() => tx(() => allocate(s, net, "c3", ["10.5.0.7"]))).toThrow(/reserved/);
    expect(tx(() => allocate(s, net, "c3", ["10.5.0.6"]))).toEqual(["10.5.0.6/29"]);
    release(s, "a", "c1");
    expect(allocatedAddresses(s, "a").sort()).toEqual(["10.5.0.3", "10.5.0.6"]);
  });
  it("allocate and release stay fast at 1,000 allocated addresses", () => {
    const s = store();
    const net = createNetwork(s, settings, opts("big", { subnets: ["10.100.0.0/20"] }));
    for (let i = 0; i < 1000; i++) s.transaction(() => allocate(s, net, `c${i}`));
    const t0 = performance.now();
    for (let i = 0; i < 20; i++) {
      s.transaction(() => allocate(s, net, `x${i}`));
      s.transaction(() => release(s, "big", `x${i}`));
    }
    const per = (performance.now() - t0) / 20;
    console.log(`ipam allocate+release at 1000 addresses: ${per.toFixed(2)} ms`);
    expect(allocatedAddresses(s, "big")).toHaveLength(1000);
  });
});

describe("publish", () => {
  it("parses host IP, ranges and protocol", () => {
    expect(parsePublish("8080:80")).toEqual([{ hostIp: "", protocol: "tcp", hostPort: 8080, containerPort: 80 }]);
    expect(parsePublish("127.0.0.1:53:53/udp")).toEqual([
      { hostIp: "127.0.0.1", protocol: "udp", hostPort: 53, containerPort: 53 },
    ]);
    expect(parsePublish("9000-9002:7000-7002").map((m) => `${m.hostPort}>${m.containerPort}`)).toEqual([
      "9000>7000",
      "9001>7001",
      "9002>7002",
    ]);
    expect(() => parsePublish("80")).toThrow("--publish 80: expected [hostIP:]hostPort:containerPort[/tcp|udp]");
    expect(() => parsePublish("1-3:1-2")).toThrow(/ranges differ/);
    expect(() => parsePublish("8080:80/sctp")).toThrow(/protocol "sctp"/);
    expect(() => parsePublish("99999:80")).toThrow(/bad host port "99999"/);
    for (const loopback of ["[::1]:8080:80", "[0:0::1]:8080:80/udp"])
      expect(() => parsePublish(loopback)).toThrow(`--publish ${loopback}: a port cannot be published on ::1`);
    expect(parsePublish("[fd00::1]:8080:80")[0].hostIp).toBe("fd00::1");
    expect(duplicateIn([...parsePublish("127.0.0.1:80:80"), ...parsePublish("127.0.0.2:80:80")])).toBeUndefined();
    expect(duplicateIn([...parsePublish("127.0.0.1:80:80"), ...parsePublish("80:81")])?.containerPort).toBe(81);
    expect(duplicateIn([...parsePublish("79-81:79-81"), ...parsePublish("81:80/udp")])).toBeUndefined();
  });
});

describe("generated files", () => {
  const net = (name: string, bridge: string, subnet: string, internal = false): NetworkRecord => ({
    name,
    id: name,
    driver: "bridge",
    bridge,
    subnets: [{ subnet, gateway: subnet.replace(/0\/\d+$/, "1") }],
    ipv6: false,
    internal,
    dns: true,
    mtu: 0,
    labels: {},
    options: {},
    created: "",
  });
  it("the nftables table: DNAT per port, masquerade, isolation, internal", () => {
    const text = rulesetText({
      networks: [net("a", "polis1", "10.89.0.0/24"), net("i", "polis2", "10.89.1.0/24", true)],
      attachments: [],
      ports: [
        {
          hostIp: "",
          protocol: "udp",
          hostPort: 5353,
          network: "a",
          containerId: "c1",
          containerIp: "10.89.0.2",
          containerPort: 53,
        },
      ],
    });
    expect(text).toContain(`meta nfproto ipv4 udp dport 5353 dnat ip to 10.89.0.2:53 comment "c1 a"`);
    expect(text).toContain(`ip saddr 10.89.0.0/24 oifname != "polis1" masquerade`);
    expect(text).not.toContain(`ip saddr 10.89.1.0/24 oifname != "polis2" masquerade`);
    expect(text).toContain(`iifname "polis2" oifname != "polis2" drop`);
    expect(text).toMatch(/^table inet polis \{\}\ndelete table inet polis\ntable inet polis \{\n {2}comment "polis root "\n/);
  });
  it("the CNI list: bridge + static IPAM with polis's addresses; internal has no gateway", () => {
    const open = conflistFor({ ...net("a", "polis1", "10.89.0.0/24"), mtu: 1400 }, ["10.89.0.5/24"]);
    expect(open.plugins).toEqual([
      expect.objectContaining({
        type: "bridge",
        bridge: "polis1",
        isGateway: true,
        isDefaultGateway: true,
        ipMasq: false,
        hairpinMode: true,
        mtu: 1400,
        ipam: { type: "static", addresses: [{ address: "10.89.0.5/24", gateway: "10.89.0.1" }] },
      }),
    ]);
    const closed = conflistFor(net("i", "polis2", "10.89.1.0/24", true), ["10.89.1.5/24"]);
    expect(closed.plugins[0]).toMatchObject({
      isGateway: false,
      isDefaultGateway: false,
      ipam: { addresses: [{ address: "10.89.1.5/24" }] },
    });
  });

  it("hosts: members of my networks only, with name.NETWORK and aliases", () => {
    const nets = new Map([
      ["a", net("a", "polis1", "10.89.0.0/24")],
      ["b", net("b", "polis2", "10.89.1.0/24")],
    ]);
    const att = (network: string, containerId: string, ip: string, aliases: string[] = []) => ({
      network,
      containerId,
      ifname: "eth0",
      aliases,
      addresses: [ip],
      created: "",
    });
    const text = hostsText("web", nets, [
      att("a", "web", "10.89.0.2/24"),
      att("a", "db", "10.89.0.3/24", ["database"]),
      att("b", "other", "10.89.1.2/24"),
    ]);
    expect(text).toContain("10.89.0.3\tdb database db.a database.a\n");
    expect(text).toContain("10.89.0.2\tweb web.a\n");
    expect(text).not.toContain("other");
  });
});
