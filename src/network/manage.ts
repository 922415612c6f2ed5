// What the `polis network …` commands do, as library calls (src/cli/network.ts only parses and
// prints): list, inspect, remove, prune, connect, disconnect, reload.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname } from "node:path";
import { PolisError } from "../errors.js";
import type { GlobalOptions } from "../container/options.js";
import {
  allPorts,
  attachmentsOfNetwork,
  getNetwork,
  listNetworks,
  portsOfContainer,
  type NetworkRecord,
} from "../state/networks.js";
import type { Store } from "../state/store.js";
import { detach, plumb, reserve, RESOURCE_KIND, SANDBOX_KIND, syncFirewall } from "./attach.js";
import type { NetworkSettings } from "./config.js";
import { networkRules, portRules, removeRuleset, tableExists, tableOwner, TABLE } from "./firewall.js";
import { findNetwork, removeNetworkRecord } from "./networks.js";
import { namesDir, removeNames } from "./names.js";
import { mountNamesInto } from "./names-mount.js";

/** All networks; the default one is made here if it is not there yet (podman always lists it). */
export function networksForList(store: Store, settings: NetworkSettings): NetworkRecord[] {
  findNetwork(store, settings, settings.defaultNetwork);
  return listNetworks(store);
}

/** podman-like inspect output, plus the nftables rules polis owns for the network. */
export function inspectNetwork(store: Store, settings: NetworkSettings, name: string): object {
  const net = findNetwork(store, settings, name);
  const members = attachmentsOfNetwork(store, net.name);
  const ports = allPorts(store).filter((p) => p.network === net.name);
  const rules = networkRules(net);
  return {
    name: net.name,
    id: net.id,
    driver: net.driver,
    network_interface: net.driver === "bridge" ? net.bridge : net.options.parent,
    created: net.created,
    subnets: net.subnets.map((s) => ({ subnet: s.subnet, gateway: s.gateway, ...(s.ipRange ? { lease_range: s.ipRange } : {}) })),
    ipv6_enabled: net.ipv6,
    internal: net.internal,
    dns_enabled: net.dns,
    options: { ...net.options, ...(net.mtu ? { mtu: String(net.mtu) } : {}) },
    labels: net.labels,
    containers: Object.fromEntries(
      members.map((a) => [
        a.containerId,
        {
          interface: a.ifname,
          addresses: a.addresses,
          aliases: a.aliases,
          ports: portsOfContainer(store, a.containerId)
            .filter((p) => p.network === net.name)
            .map((p) => `${p.hostIp ? p.hostIp + ":" : ""}${p.hostPort}->${p.containerPort}/${p.protocol}`),
        },
      ]),
    ),
    firewall: {
      table: `inet ${TABLE}`,
      rules: [
        ...ports.flatMap((p) =>
          portRules(
            p,
            members
              .find((m) => m.containerId === p.containerId)
              ?.addresses.find((x) => x.includes(":"))
              ?.split("/")[0],
          ).map((r) => `published: ${r}`),
        ),
        ...rules.postrouting.map((r) => `postrouting: ${r}`),
        ...rules.forward.map((r) => `forward: ${r}`),
      ],
    },
  };
}

/**
 * `network rm`: refused while in use; with `force`, the containers on it are deleted first
 * (podman's meaning). Then the record, the bridge and the network's rules go.
 */
export async function removeNetwork(
  g: GlobalOptions,
  store: Store,
  settings: NetworkSettings,
  name: string,
  force: boolean,
): Promise<void> {
  if (!getNetwork(store, name)) throw new PolisError(`network ${name}: no such network`);
  if (force) {
    const { deleteContainer } = await import("../container/delete.js");
    for (const a of attachmentsOfNetwork(store, name)) {
      await deleteContainer(g, { id: a.containerId, force: true });
      await disconnect(g.root, store, settings, name, a.containerId); // a no-op when delete released it
    }
  }
  const net = removeNetworkRecord(store, name);
  if (net.driver === "bridge") deleteLink(net.bridge);
  // Nothing to do on a host where no container was ever attached (no table yet), nor to
  // another root's table.
  if (!tableExists() || tableOwner() !== dirname(store.path)) return;
  if (listNetworks(store).length === 0) removeRuleset();
  else syncFirewall(store);
}

/** `network prune`: every network no container uses, except the default one. Returns their names. */
export async function pruneNetworks(g: GlobalOptions, store: Store, settings: NetworkSettings): Promise<string[]> {
  const removed: string[] = [];
  for (const n of listNetworks(store)) {
    if (n.name === settings.defaultNetwork || attachmentsOfNetwork(store, n.name).length > 0) continue;
    try {
      await removeNetwork(g, store, settings, n.name, false);
      removed.push(n.name);
    } catch {
      // taken meanwhile
    }
  }
  return removed;
}

/**
 * `network connect`: a running or created container gets one more interface. One made without
 * any polis network gets its hosts files mounted now (names-mount.ts), as `run --network` does.
 */
export async function connect(
  root: string,
  store: Store,
  settings: NetworkSettings,
  network: string,
  id: string,
  ips: string[],
  aliases: string[],
): Promise<void> {
  const pid = livePid(store, id);
  const firstNames = !existsSync(namesDir(root, id));
  const att = reserve(root, store, settings, { containerId: id, network, ips, aliases, ports: [] });
  try {
    await plumb(root, store, settings, id, att.network, pid);
  } catch (e) {
    store.removeResource(id, RESOURCE_KIND, att.network); // plumb undid the rest
    throw e;
  }
  if (!firstNames) return;
  try {
    await mountNamesInto(root, id, pid);
  } catch (e) {
    await disconnect(root, store, settings, att.network, id).catch(() => {});
    store.transaction(() => store.removeResource(id, SANDBOX_KIND, "hosts"));
    removeNames(root, id);
    throw e;
  }
}

/**
 * `network disconnect`: CNI DEL, addresses and rules freed. The container lives on: its hosts
 * file (bind-mounted) is rewritten without that network, and stays for `delete` to remove.
 */
export async function disconnect(
  root: string,
  store: Store,
  settings: NetworkSettings,
  network: string,
  id: string,
): Promise<void> {
  const live = store.get(id) !== undefined;
  await detach(root, store, settings, id, network, { keepNames: live });
  store.transaction(() => {
    store.removeResource(id, RESOURCE_KIND, network);
    // the files outlive the last network: a row lets delete remove them
    if (live && existsSync(namesDir(root, id)) && store.resourcesOf(id).every((r) => r.kind !== RESOURCE_KIND)) {
      store.addResource(id, SANDBOX_KIND, "hosts", {});
    }
  });
}

/** `network reload`: the nftables table re-made from the records (after `nft flush ruleset`, a firewall reload). */
export function reload(store: Store): void {
  syncFirewall(store);
}

function livePid(store: Store, id: string): number {
  const rec = store.get(id);
  if (!rec) throw new PolisError(`container ${id} does not exist`);
  if (!rec.pid || !alive(rec.pid)) throw new PolisError(`container ${id} is not running`);
  return rec.pid;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function deleteLink(name: string): void {
  try {
    execFileSync("ip", ["link", "delete", name], { stdio: "ignore" });
  } catch {
    // not there (never used, or after a reboot)
  }
}
