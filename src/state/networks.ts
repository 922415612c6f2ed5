// The network room's queries: networks, attachments (a container on a network), IP allocations
// and published ports. The logic that combines them (IPAM, overlap checks) lives in src/network/
// and runs these inside one `store.transaction`, so each decision sees a stable view.
import type BetterSqlite3 from "better-sqlite3";
import { PolisError } from "../errors.js";
import { connectionOf, type Store } from "./store.js";

export interface SubnetRecord {
  subnet: string;
  gateway?: string;
  /** Addresses for containers come from here when set (`--ip-range`). */
  ipRange?: string;
}

export interface NetworkRecord {
  name: string;
  id: string;
  /** "bridge", "macvlan" or "ipvlan". */
  driver: string;
  /** The bridge (driver bridge); "" for macvlan/ipvlan, whose parent is options.parent. */
  bridge: string;
  subnets: SubnetRecord[];
  ipv6: boolean;
  internal: boolean;
  dns: boolean;
  mtu: number;
  labels: Record<string, string>;
  /** Driver options (`-o`): macvlan/ipvlan's parent and mode. */
  options: Record<string, string>;
  created: string;
}

export interface AttachmentRecord {
  network: string;
  containerId: string;
  ifname: string;
  aliases: string[];
  /** "10.88.0.2/16" and, dual stack, "fd00::2/64". */
  addresses: string[];
  /** The netns the CNI ADD ran in (/proc/<pid>/ns/net); unset until then. */
  netns?: string;
  /** The CNI ADD result (DEL gets it back as prevResult). */
  result?: unknown;
  created: string;
}

export interface PortRecord {
  /** "" = every host address. */
  hostIp: string;
  protocol: "tcp" | "udp";
  hostPort: number;
  network: string;
  containerId: string;
  containerIp: string;
  containerPort: number;
}

type Statement = BetterSqlite3.Statement;
const cache = new WeakMap<object, Map<string, Statement>>();

function stmt(store: Store, sql: string): Statement {
  const db = connectionOf(store);
  let m = cache.get(db);
  if (!m) cache.set(db, (m = new Map()));
  let s = m.get(sql);
  if (!s) m.set(sql, (s = db.prepare(sql)));
  return s;
}

function isPrimaryKeyClash(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return code === "SQLITE_CONSTRAINT_PRIMARYKEY" || code === "SQLITE_CONSTRAINT_UNIQUE";
}

// ---- networks

type Row = Record<string, unknown>;

function decodeNetwork(r: Row): NetworkRecord {
  return {
    name: r.name as string,
    id: r.id as string,
    driver: r.driver as string,
    bridge: r.bridge as string,
    subnets: JSON.parse(r.subnets as string),
    ipv6: r.ipv6 === 1,
    internal: r.internal === 1,
    dns: r.dns === 1,
    mtu: r.mtu as number,
    labels: JSON.parse(r.labels as string),
    options: JSON.parse((r.options as string | undefined) ?? "{}"),
    created: r.created as string,
  };
}

/** Records a network; false when the name (or bridge) is already taken. */
export function insertNetwork(store: Store, n: NetworkRecord): boolean {
  try {
    stmt(
      store,
      `INSERT INTO networks (name, id, driver, bridge, subnets, ipv6, internal, dns, mtu, labels, created, options)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      n.name,
      n.id,
      n.driver,
      n.bridge,
      JSON.stringify(n.subnets),
      n.ipv6 ? 1 : 0,
      n.internal ? 1 : 0,
      n.dns ? 1 : 0,
      n.mtu,
      JSON.stringify(n.labels),
      n.created,
      JSON.stringify(n.options),
    );
    return true;
  } catch (err) {
    if (isPrimaryKeyClash(err)) return false;
    throw wrap("insert network " + n.name, err);
  }
}

export function getNetwork(store: Store, name: string): NetworkRecord | undefined {
  const r = stmt(store, "SELECT * FROM networks WHERE name = ?").get(name) as Row | undefined;
  return r && decodeNetwork(r);
}

export function listNetworks(store: Store): NetworkRecord[] {
  return (stmt(store, "SELECT * FROM networks ORDER BY created, name").all() as Row[]).map(decodeNetwork);
}

export function removeNetwork(store: Store, name: string): boolean {
  return stmt(store, "DELETE FROM networks WHERE name = ?").run(name).changes > 0;
}

// ---- attachments

function decodeAttachment(r: Row): AttachmentRecord {
  return {
    network: r.network as string,
    containerId: r.container_id as string,
    ifname: r.ifname as string,
    aliases: JSON.parse(r.aliases as string),
    addresses: JSON.parse(r.addresses as string),
    netns: (r.netns as string | null) ?? undefined,
    result: r.result == null ? undefined : JSON.parse(r.result as string),
    created: r.created as string,
  };
}

/** Records an attachment; false when the container is already on that network. */
export function insertAttachment(store: Store, a: AttachmentRecord): boolean {
  try {
    stmt(
      store,
      `INSERT INTO network_attachments (network, container_id, ifname, aliases, addresses, netns, result, created)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      a.network,
      a.containerId,
      a.ifname,
      JSON.stringify(a.aliases),
      JSON.stringify(a.addresses),
      a.netns ?? null,
      a.result === undefined ? null : JSON.stringify(a.result),
      a.created,
    );
    return true;
  } catch (err) {
    if (isPrimaryKeyClash(err)) return false;
    throw wrap(`attach ${a.containerId} to ${a.network}`, err);
  }
}

export function setAttachmentNetns(
  store: Store,
  network: string,
  containerId: string,
  netns: string | undefined,
  result: unknown,
): void {
  stmt(store, "UPDATE network_attachments SET netns = ?, result = ? WHERE network = ? AND container_id = ?").run(
    netns ?? null,
    result === undefined ? null : JSON.stringify(result),
    network,
    containerId,
  );
}

export function getAttachment(store: Store, network: string, containerId: string): AttachmentRecord | undefined {
  const r = stmt(store, "SELECT * FROM network_attachments WHERE network = ? AND container_id = ?").get(network, containerId) as
    | Row
    | undefined;
  return r && decodeAttachment(r);
}

export function attachmentsOfNetwork(store: Store, network: string): AttachmentRecord[] {
  return (stmt(store, "SELECT * FROM network_attachments WHERE network = ? ORDER BY rowid").all(network) as Row[]).map(
    decodeAttachment,
  );
}

export function attachmentsOfContainer(store: Store, containerId: string): AttachmentRecord[] {
  return (stmt(store, "SELECT * FROM network_attachments WHERE container_id = ? ORDER BY rowid").all(containerId) as Row[]).map(
    decodeAttachment,
  );
}

export function allAttachments(store: Store): AttachmentRecord[] {
  return (stmt(store, "SELECT * FROM network_attachments ORDER BY rowid").all() as Row[]).map(decodeAttachment);
}

export function removeAttachment(store: Store, network: string, containerId: string): void {
  stmt(store, "DELETE FROM network_attachments WHERE network = ? AND container_id = ?").run(network, containerId);
}

// ---- IP allocations

export function allocatedAddresses(store: Store, network: string): string[] {
  return (stmt(store, "SELECT address FROM ip_allocations WHERE network = ?").all(network) as Row[]).map(
    (r) => r.address as string,
  );
}

/** The holder of an address, if any. */
export function addressHolder(store: Store, network: string, address: string): string | undefined {
  const r = stmt(store, "SELECT container_id FROM ip_allocations WHERE network = ? AND address = ?").get(network, address) as
    | Row
    | undefined;
  return r?.container_id as string | undefined;
}

/** Takes an address; false when someone holds it already. */
export function takeAddress(store: Store, network: string, address: string, containerId: string): boolean {
  return (
    stmt(store, "INSERT OR IGNORE INTO ip_allocations (network, address, container_id) VALUES (?, ?, ?)").run(
      network,
      address,
      containerId,
    ).changes > 0
  );
}

export function releaseAddresses(store: Store, network: string, containerId: string): number {
  return stmt(store, "DELETE FROM ip_allocations WHERE network = ? AND container_id = ?").run(network, containerId).changes;
}

export function releaseAddress(store: Store, network: string, address: string): void {
  stmt(store, "DELETE FROM ip_allocations WHERE network = ? AND address = ?").run(network, address);
}

// ---- published ports

function decodePort(r: Row): PortRecord {
  return {
    hostIp: r.host_ip as string,
    protocol: r.protocol as "tcp" | "udp",
    hostPort: r.host_port as number,
    network: r.network as string,
    containerId: r.container_id as string,
    containerIp: r.container_ip as string,
    containerPort: r.container_port as number,
  };
}

export function allPorts(store: Store): PortRecord[] {
  return (stmt(store, "SELECT * FROM published_ports ORDER BY protocol, host_port, host_ip").all() as Row[]).map(decodePort);
}

/** Who publishes `protocol`/`port` on host address `hostIp` or on every address (""). */
export function portHolders(store: Store, protocol: string, port: number): PortRecord[] {
  return (stmt(store, "SELECT * FROM published_ports WHERE protocol = ? AND host_port = ?").all(protocol, port) as Row[]).map(
    decodePort,
  );
}

export function insertPort(store: Store, p: PortRecord): boolean {
  try {
    stmt(
      store,
      `INSERT INTO published_ports (host_ip, protocol, host_port, network, container_id, container_ip, container_port)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ).run(p.hostIp, p.protocol, p.hostPort, p.network, p.containerId, p.containerIp, p.containerPort);
    return true;
  } catch (err) {
    if (isPrimaryKeyClash(err)) return false;
    throw wrap(`publish port ${p.hostPort}/${p.protocol}`, err);
  }
}

export function portsOfContainer(store: Store, containerId: string): PortRecord[] {
  return (
    stmt(store, "SELECT * FROM published_ports WHERE container_id = ? ORDER BY protocol, host_port").all(containerId) as Row[]
  ).map(decodePort);
}

export function removePorts(store: Store, network: string, containerId: string): void {
  stmt(store, "DELETE FROM published_ports WHERE network = ? AND container_id = ?").run(network, containerId);
}

function wrap(step: string, err: unknown): PolisError {
  if (err instanceof PolisError) return err;
  const e = err as { message?: string; code?: string };
  return new PolisError(`${step}: ${e?.message ?? String(err)}${e?.code ? ` (${e.code})` : ""}`, { step, errno: e?.code });
}
