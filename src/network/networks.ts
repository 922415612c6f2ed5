// Networks as records: create (subnet from the flags or the pool, overlap refused), the default
// network made on first use, removal (refused while in use). The data plane (bridge, rules) is
// made lazily by the first attach and re-made by `network reload`.
import { randomBytes } from "node:crypto";
import { PolisError } from "../errors.js";
import {
  attachmentsOfNetwork,
  getNetwork,
  insertNetwork,
  listNetworks,
  removeNetwork as removeNetworkRow,
  type NetworkRecord,
  type SubnetRecord,
} from "../state/networks.js";
import type { Store } from "../state/store.js";
import { contains, firstFreeSubnet, formatCidr, formatIp, overlaps, parseCidr, parseIp, usableRange, type Cidr } from "./cidr.js";
import type { NetworkSettings } from "./config.js";
import { chooseDriver, hasParent } from "./drivers.js";
import { isoUtc } from "../time.js";

export interface CreateNetworkOptions {
  name: string;
  /** --subnet, at most one per family. */
  subnets: string[];
  gateway?: string;
  ipRange?: string;
  ipv6: boolean;
  internal: boolean;
  disableDns: boolean;
  mtu: number;
  labels: Record<string, string>;
  /** --driver (default bridge) and its `-o key=value` options. */
  driver?: string;
  options?: Record<string, string>;
}

/** Names `run --network` gives a meaning of its own. */
export const RESERVED = ["none", "host", "bridge", "default", "private", "container", "ns", "slirp4netns", "pasta"];
const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export function checkName(name: string): void {
  if (!NAME.test(name) || name.length > 128) {
    throw new PolisError(`network name "${name}": use letters, digits, "_", "." and "-", starting with a letter or digit`);
  }
  if (RESERVED.includes(name)) throw new PolisError(`network name "${name}" is reserved`);
}

/** Creates a network record. Runs in one write transaction: the overlap check cannot race. */
export function createNetwork(store: Store, settings: NetworkSettings, o: CreateNetworkOptions): NetworkRecord {
  checkName(o.name);
  const given = o.subnets.map((s) => parseCidr(s, "--subnet"));
  const choice = chooseDriver(o.driver ?? "bridge", o.options ?? {}, given.length > 0);
  const mtu = choice.mtu ?? o.mtu;
  if (!Number.isInteger(mtu) || mtu < 0 || (mtu > 0 && mtu < 68) || mtu > 65535) {
    throw new PolisError(`--mtu ${mtu}: must be between 68 and 65535`);
  }
  const parented = hasParent(choice.driver);
  if (parented && o.ipv6 && !given.some((c) => c.family === 6))
    throw new PolisError(`--ipv6: a ${choice.driver} network needs its IPv6 --subnet too (the parent's network)`);
  for (const f of [4, 6] as const) {
    if (given.filter((c) => c.family === f).length > 1) throw new PolisError(`--subnet: at most one IPv${f} subnet`);
  }
  if (o.gateway !== undefined && given.length === 0) throw new PolisError("--gateway needs --subnet");
  if (o.ipRange !== undefined && given.length === 0) throw new PolisError("--ip-range needs --subnet");
  return store.transaction(() => {
    if (getNetwork(store, o.name)) throw new PolisError(`network ${o.name} already exists`);
    const existing = listNetworks(store);
    const taken = existing.flatMap((n) => n.subnets.map((s) => ({ net: n.name, cidr: parseCidr(s.subnet) })));
    for (const c of given) {
      const clash = taken.find((t) => overlaps(t.cidr, c));
      if (clash) throw new PolisError(`--subnet ${formatCidr(c)}: overlaps network ${clash.net} (${formatCidr(clash.cidr)})`);
    }
    const cidrs = [...given];
    const wantV6 = o.ipv6 || given.some((c) => c.family === 6);
    // (a macvlan/ipvlan network has exactly the subnets given: the parent's LAN's)
    for (const f of parented ? [] : wantV6 ? ([4, 6] as const) : ([4] as const)) {
      if (cidrs.some((c) => c.family === f)) continue;
      if (given.length > 0 && f === 4 && given.every((c) => c.family === 6)) continue; // an IPv6-only network
      cidrs.push(fromPool(settings, f, [...taken.map((t) => t.cidr), ...cidrs], o.name));
    }
    const subnets = cidrs.map((c) => subnetRecord(c, o.gateway, o.ipRange));
    const rec: NetworkRecord = {
      name: o.name,
      id: randomBytes(32).toString("hex"),
      driver: choice.driver,
      bridge: parented ? "" : freeBridgeName(existing, o.name === settings.defaultNetwork),
      subnets,
      ipv6: cidrs.some((c) => c.family === 6),
      internal: o.internal,
      dns: !o.disableDns,
      mtu,
      labels: o.labels,
      options: choice.options,
      created: isoUtc(Date.now()),
    };
    if (!insertNetwork(store, rec)) throw new PolisError(`network ${o.name} already exists`);
    store.appendEvent({
      type: "network",
      action: "create",
      id: rec.id,
      attributes: { name: rec.name, subnets: subnets.map((s) => s.subnet).join(",") },
    });
    return rec;
  });
}

function fromPool(settings: NetworkSettings, family: 4 | 6, taken: Cidr[], name: string): Cidr {
  for (const pool of settings.pools.filter((p) => p.base.family === family)) {
    const c = firstFreeSubnet(pool.base, pool.size, taken);
    if (c) return c;
  }
  throw new PolisError(`network ${name}: no free IPv${family} subnet left in network.default_subnet_pools; give --subnet`);
}

/** The gateway and range flags apply to the subnet of their own family. */
function subnetRecord(c: Cidr, gateway: string | undefined, ipRange: string | undefined): SubnetRecord {
  const rec: SubnetRecord = { subnet: formatCidr(c) };
  const { first } = usableRange(c);
  let gw = first;
  if (gateway !== undefined) {
    const g = parseIp(gateway, "--gateway");
    if (g.family === c.family) {
      if (!contains(c, g.family, g.value)) throw new PolisError(`--gateway ${gateway}: outside subnet ${rec.subnet}`);
      if (g.value < first || g.value > usableRange(c).last)
        throw new PolisError(`--gateway ${gateway}: is the network or broadcast address of ${rec.subnet}`);
      gw = g.value;
    }
  }
  rec.gateway = formatIp(c.family, gw);
  if (ipRange !== undefined) {
    const r = parseCidr(ipRange, "--ip-range");
    if (r.family === c.family) {
      if (!contains(c, r.family, r.base) || r.prefix < c.prefix)
        throw new PolisError(`--ip-range ${ipRange}: outside subnet ${rec.subnet}`);
      rec.ipRange = formatCidr(r);
    }
  }
  return rec;
}

/**
 * polis1, polis2, …: the lowest index no network uses (interface names are at most 15 bytes);
 * polis0 is kept for the default network, as podman0 is podman's.
 */
function freeBridgeName(existing: readonly NetworkRecord[], isDefault: boolean): string {
  const used = new Set(existing.filter((n) => n.driver === "bridge").map((n) => n.bridge));
  for (let i = isDefault ? 0 : 1; ; i++) if (!used.has(`polis${i}`)) return `polis${i}`;
}

/** The network `name`; the default network is created here on first use. */
export function findNetwork(store: Store, settings: NetworkSettings, name: string): NetworkRecord {
  const n = getNetwork(store, name);
  if (n) return n;
  if (name === settings.defaultNetwork) {
    try {
      return createNetwork(store, settings, {
        name,
        subnets: [formatCidr(settings.defaultSubnet)],
        ipv6: false,
        internal: false,
        disableDns: false,
        mtu: 0,
        labels: {},
      });
    } catch (e) {
      const made = getNetwork(store, name); // a concurrent polis made it first
      if (made) return made;
      throw e;
    }
  }
  throw new PolisError(`network ${name}: no such network`);
}

/** Removes the record; refused while containers are attached (the caller detaches for --force). */
export function removeNetworkRecord(store: Store, name: string): NetworkRecord {
  return store.transaction(() => {
    const n = getNetwork(store, name);
    if (!n) throw new PolisError(`network ${name}: no such network`);
    const users = attachmentsOfNetwork(store, name).map((a) => a.containerId);
    if (users.length) {
      throw new PolisError(
        `network ${name} is in use by container${users.length > 1 ? "s" : ""} ${users.join(", ")} (use --force, or disconnect them)`,
      );
    }
    removeNetworkRow(store, name);
    store.appendEvent({ type: "network", action: "remove", id: n.id, attributes: { name } });
    return n;
  });
}
