// A container on a network, in three steps:
//   reserve  (before the container exists) one write transaction: network (the default one made
//            on first use), addresses, published ports, the attachment row, and the `network`
//            resource row of the release seam; then the container's hosts/resolv.conf files
//   plumb    (after create: the init's netns exists) CNI ADD, then the nftables table and the
//            neighbours' hosts files
//   detach   CNI DEL (always, also after a failed ADD; idempotent), free everything, re-sync
// A polis SIGKILLed between any two steps leaves rows that `delete --force ID` releases.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, readlinkSync } from "node:fs";
import { dirname } from "node:path";
import { PolisError } from "../errors.js";
import {
  allAttachments,
  allPorts,
  attachmentsOfContainer,
  getAttachment,
  getNetwork,
  insertAttachment,
  insertPort,
  listNetworks,
  portHolders,
  removeAttachment,
  removePorts,
  setAttachmentNetns,
  type AttachmentRecord,
  type NetworkRecord,
} from "../state/networks.js";
import type { Store } from "../state/store.js";
import { addList, checkPlugins, delList, type CniArgs, type CniResult } from "./cni.js";
import type { NetworkSettings } from "./config.js";
import { conflistFor, loopbackList } from "./conflist.js";
import { checkParent, hasParent } from "./drivers.js";
import { allowLocalnet, applyRuleset, checkOwner } from "./firewall.js";
import { allocate, release as releaseIps } from "./ipam.js";
import { findNetwork } from "./networks.js";
import { hostsText, namesDir, removeNames, writeNames } from "./names.js";
import { clashes, duplicateIn, type PortMapping } from "./ports.js";
import { phase } from "../timing.js";
import { isoUtc } from "../time.js";

export const RESOURCE_KIND = "network";

export interface AttachRequest {
  containerId: string;
  network: string;
  /** --ip (one per family at most). */
  ips: string[];
  aliases: string[];
  ports: PortMapping[];
}

/** What plumb records once the ADD has run: the netns it ran in, and the CNI result. */
interface Plumbed {
  /** boot id + netns inode: a DEL after a reboot or pid reuse must not enter someone else's netns. */
  netnsId: string;
  cni: CniResult;
}

/** Step 1: everything recorded, nothing plumbed. Errors leave nothing behind (one transaction). */
export function reserve(root: string, store: Store, settings: NetworkSettings, req: AttachRequest): AttachmentRecord {
  const dup = duplicateIn(req.ports);
  if (dup) throw new PolisError(`--publish: host port ${dup.hostPort}/${dup.protocol} given twice`);
  const att = store.transaction(() => {
    const net = findNetwork(store, settings, req.network);
    const mine = attachmentsOfContainer(store, req.containerId);
    if (mine.some((a) => a.network === net.name))
      throw new PolisError(`container ${req.containerId} is already connected to network ${net.name}`);
    const used = new Set(mine.map((a) => a.ifname));
    let i = 0;
    while (used.has(`eth${i}`)) i++;
    const addresses = allocate(store, net, req.containerId, req.ips);
    const rec: AttachmentRecord = {
      network: net.name,
      containerId: req.containerId,
      ifname: `eth${i}`,
      aliases: [...new Set(req.aliases)],
      addresses,
      created: isoUtc(Date.now()),
    };
    if (!insertAttachment(store, rec))
      throw new PolisError(`container ${req.containerId} is already connected to network ${net.name}`);
    const v4 = addresses.find((a) => !a.includes(":"))?.split("/")[0];
    checkPublishable(net, req.ports);
    for (const p of req.ports) {
      if (!v4) throw new PolisError(`--publish: network ${net.name} has no IPv4 subnet to publish ports to`);
      const clash = portHolders(store, p.protocol, p.hostPort).find((h) => clashes(h, p));
      if (clash) {
        throw new PolisError(
          `--publish: host port ${p.hostIp ? p.hostIp + ":" : ""}${p.hostPort}/${p.protocol} is already published by container ${clash.containerId}`,
        );
      }
      insertPort(store, { ...p, network: net.name, containerId: req.containerId, containerIp: v4 });
    }
    // The release seam's row, in the same transaction: whatever happens next, delete finds it.
    store.addResource(req.containerId, RESOURCE_KIND, net.name, { ifname: rec.ifname });
    return rec;
  });
  syncNames(root, store, [att.network]);
  phase("network reserve and names");
  return att;
}

/** Published ports are DNAT on the host's way into a bridge: a macvlan/ipvlan network has none. */
export function checkPublishable(net: NetworkRecord, ports: readonly PortMapping[]): void {
  if (ports.length && hasParent(net.driver)) {
    throw new PolisError(
      `--publish: network ${net.name} uses the ${net.driver} driver: its containers are reached at their own addresses (publish ports on a bridge network)`,
    );
  }
}

/**
 * Step 2: CNI ADD in the netns of `pid`. On failure the ADD is undone (DEL) and the reservation
 * freed before the error is thrown.
 */
export async function plumb(
  root: string,
  store: Store,
  settings: NetworkSettings,
  containerId: string,
  network: string,
  pid: number,
): Promise<void> {
  const att = getAttachment(store, network, containerId);
  const net = getNetwork(store, network);
  if (!att || !net) throw new PolisError(`container ${containerId}: no reservation on network ${network}`);
  try {
    await addInterfaces(store, settings, att, net, pid);
  } catch (e) {
    await detach(root, store, settings, containerId, network).catch(() => {});
    throw e;
  }
}

async function addInterfaces(
  store: Store,
  settings: NetworkSettings,
  att: AttachmentRecord,
  net: NetworkRecord,
  pid: number,
): Promise<void> {
  const { containerId, network } = att;
  const netns = `/proc/${pid}/ns/net`;
  const netnsId = netnsIdentity(netns);
  if (netnsId === undefined) throw new PolisError(`container ${containerId}: its process ${pid} is gone`);
  if (readlinkSync(netns) === readlinkSync("/proc/self/ns/net")) {
    throw new PolisError(
      `container ${containerId} shares the host's network namespace: give it a new one (linux.namespaces "network") to use --network ${network}`,
    );
  }
  // Bridges and the table are per host: not on top of another root's (before anything is made).
  checkOwner(dirname(store.path));
  checkPlugins(loopbackList(), settings.pluginDirs);
  checkPlugins(conflistFor(net, att.addresses), settings.pluginDirs);
  if (hasParent(net.driver)) checkParent(net.options.parent, `network ${network}: -o parent`);
  phase("network checks");
  // Recorded before the ADD: a polis killed during it leaves a row whose DEL knows where to go.
  setAttachmentNetns(store, network, containerId, netns, { netnsId, cni: undefined });
  const args: CniArgs = { containerId, netns, ifname: att.ifname, pluginDirs: settings.pluginDirs };
  if (att.ifname === "eth0") recordLoopback(store, containerId, netns, netnsId);
  // lo and eth0 are independent: both plugins run at once (one exec latency instead of two).
  const adds = Promise.allSettled([
    att.ifname === "eth0" ? addList(loopbackList(), { ...args, ifname: "lo" }) : Promise.resolve({}),
    addList(conflistFor(net, att.addresses), args),
  ]);
  // The table while the plugins run (it depends on the records only, complete since reserve):
  // on the other core, and the kernel's grace period after the swap (libnftables.ts) ends
  // during the ADD instead of at polis's exit. A failed ADD is undone by detach, which re-syncs.
  let ruleError: unknown;
  try {
    syncFirewall(store);
  } catch (e) {
    ruleError = e;
  }
  phase("nftables");
  // Both are waited for before a failure is handled: the DEL must come after every ADD.
  const [lo, eth] = await adds;
  if (lo.status === "rejected") throw lo.reason;
  if (eth.status === "rejected") throw eth.reason;
  if (ruleError) throw ruleError;
  phase("cni add");
  setAttachmentNetns(store, network, containerId, netns, { netnsId, cni: eth.value } satisfies Plumbed);
  // the bridge exists now (the first ADD on a network makes it): the localhost case of published ports
  if (net.driver === "bridge") allowLocalnet(net.bridge);
  store.appendEvent({
    type: "network",
    action: "connect",
    id: containerId,
    attributes: { network, addresses: att.addresses.join(",") },
  });
}

/** `--network none`: the container's own netns with only `lo`, up. */
export async function loopbackOnly(store: Store, settings: NetworkSettings, containerId: string, pid: number): Promise<void> {
  const netns = `/proc/${pid}/ns/net`;
  const netnsId = netnsIdentity(netns);
  if (netnsId === undefined) throw new PolisError(`container ${containerId}: its process ${pid} is gone`);
  recordLoopback(store, containerId, netns, netnsId);
  await addList(loopbackList(), { containerId, netns, ifname: "lo", pluginDirs: settings.pluginDirs });
}

/**
 * The release seam's kind for what a container holds of this room beyond any one network (not
 * listed among its networks), given back at delete, not at a disconnect:
 *   lo     the loopback ADD, recorded before it, so that `delete` (also --force, also after a
 *          polis killed mid-ADD) sends the DEL that CNI wants after every ADD
 *   hosts  its hosts/resolv.conf files, once its last network is disconnected
 */
export const SANDBOX_KIND = "network-sandbox";

interface LoopbackData {
  netns: string;
  netnsId: string;
}

function recordLoopback(store: Store, containerId: string, netns: string, netnsId: string): void {
  store.addResource(containerId, SANDBOX_KIND, "lo", { netns, netnsId } satisfies LoopbackData);
}

/** The loopback DEL: into the netns only if it is still the one of the ADD (else without one). */
async function delLoopback(settings: NetworkSettings, containerId: string, data: Partial<LoopbackData>): Promise<void> {
  const same = data.netns !== undefined && data.netnsId !== undefined && netnsIdentity(data.netns) === data.netnsId;
  await delList(
    loopbackList(),
    { containerId, netns: same ? (data.netns as string) : "", ifname: "lo", pluginDirs: settings.pluginDirs },
    undefined,
  );
}

/** Gives back what one `network` or `network-sandbox` row of the release seam stands for (idempotent). */
export async function releaseRow(
  root: string,
  store: Store,
  settings: NetworkSettings,
  containerId: string,
  row: { kind: string; name: string; data: unknown },
): Promise<void> {
  if (row.kind === SANDBOX_KIND && row.name === "lo")
    return delLoopback(settings, containerId, (row.data ?? {}) as Partial<LoopbackData>);
  if (row.kind === SANDBOX_KIND) return removeNames(root, containerId);
  await detach(root, store, settings, containerId, row.name);
}

/**
 * Undoes an attachment, whatever state it got to. Idempotent; also after a reboot. `keepNames`
 * (a disconnect: the container lives on) rewrites its own hosts file instead of removing it.
 */
export async function detach(
  root: string,
  store: Store,
  settings: NetworkSettings,
  containerId: string,
  network: string,
  opts: { keepNames?: boolean } = {},
): Promise<void> {
  const att = getAttachment(store, network, containerId);
  const net = getNetwork(store, network);
  // The published ports and their rules go while the DEL runs: on the other core, and the
  // kernel's grace period after the swap (libnftables.ts) ends during the DEL instead of at
  // polis's exit. The rules depend on the ports, not on addresses or attachments: the table is
  // final here. A failed swap is tried again once the rest is undone, where its error is reported.
  let synced = false;
  const withdrawPorts = () => {
    try {
      store.transaction(() => {
        removePorts(store, network, containerId);
        syncFirewall(store);
      });
      synced = true;
    } catch {
      // below
    }
    phase("nftables");
  };
  if (att && net && att.netns) {
    const plumbed = att.result as Partial<Plumbed> | undefined;
    // Only enter the netns it was made in; otherwise the plugin cleans what lives outside it.
    const same = plumbed?.netnsId !== undefined && netnsIdentity(att.netns) === plumbed.netnsId;
    const args: CniArgs = { containerId, netns: same ? att.netns : "", ifname: att.ifname, pluginDirs: settings.pluginDirs };
    const del = delList(conflistFor(net, att.addresses), args, plumbed?.cni); // the plugin is running from here
    withdrawPorts();
    await del;
    // When the netns is already gone the kernel removes the veth pair, but asynchronously: the
    // host end may still be on the bridge for a while. Remove it now, so that delete leaves none.
    if (!same && net.driver === "bridge") removeHostVeth(plumbed?.cni, net.bridge);
    phase("cni del");
  } else if (att?.netns) withdrawPorts();
  store.transaction(() => {
    removePorts(store, network, containerId);
    releaseIps(store, network, containerId);
    removeAttachment(store, network, containerId);
  });
  phase("network records");
  if (att?.netns && !synced) syncFirewall(store);
  if (att) store.appendEvent({ type: "network", action: "disconnect", id: containerId, attributes: { network } });
  syncNames(root, store, [network], opts.keepNames ? [containerId] : []);
  if (!opts.keepNames && attachmentsOfContainer(store, containerId).length === 0) removeNames(root, containerId);
  phase("names");
}

/** Rewrites polis's nftables table from the records (under the write lock: one writer at a time). */
export function syncFirewall(store: Store): void {
  store.transaction(() => {
    applyRuleset(
      { networks: listNetworks(store), attachments: allAttachments(store), ports: allPorts(store) },
      dirname(store.path),
    );
  });
}

/** Rewrites the hosts files of every container on `networks`, and of `also` (under the write lock). */
export function syncNames(root: string, store: Store, networks: readonly string[], also: readonly string[] = []): void {
  store.transaction(() => {
    const nets = new Map(listNetworks(store).map((n) => [n.name, n] as [string, NetworkRecord]));
    const all = allAttachments(store);
    const ids = new Set([...all.filter((a) => networks.includes(a.network)).map((a) => a.containerId), ...also]);
    for (const id of ids)
      if (existsSync(namesDir(root, id)) || !also.includes(id)) writeNames(root, id, hostsText(id, nets, all));
  });
}

/** The host end of the pair, named in the ADD result, if it is still a port of `bridge`. */
function removeHostVeth(cni: CniResult | undefined, bridge: string): void {
  const ifaces = (cni?.interfaces ?? []) as { name?: string; sandbox?: string }[];
  for (const i of ifaces) {
    if (!i.name || i.sandbox || i.name === bridge || !/^veth[0-9a-f]+$/.test(i.name)) continue;
    try {
      // `ip`, not /sys/class/net: sysfs shows the netns it was mounted in, not ours
      const link = execFileSync("ip", ["-o", "link", "show", "dev", i.name], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "ignore"],
      });
      if (link.includes(` master ${bridge} `)) execFileSync("ip", ["link", "delete", i.name], { stdio: "ignore" });
    } catch {
      // gone already
    }
  }
}

function netnsIdentity(path: string): string | undefined {
  try {
    return `${readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim()} ${readlinkSync(path)}`;
  } catch {
    return undefined;
  }
}
