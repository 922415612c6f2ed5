// The CNI network configuration polis generates for one container on one network. The data plane
// is the reference `bridge` plugin (bridge, veth, addresses, routes, hairpin), or `macvlan` /
// `ipvlan` for those drivers (drivers.ts), fed polis's own IPAM through the `static` IPAM plugin.
// NAT, published ports and isolation are polis's nftables table (firewall.ts), not
// `portmap`/`firewall`/`ipMasq`: Debian 12's plugins (1.1.1) only speak iptables there, and their
// rules live in the shared iptables tables, not in a table of polis's own.
import type { NetworkRecord } from "../state/networks.js";
import { CNI_VERSION, type Conflist, type PluginConf } from "./cni.js";
import { hasParent } from "./drivers.js";

/** The list for `net`, with `addresses` ("ip/prefix") as the static IPAM result. */
export function conflistFor(net: NetworkRecord, addresses: readonly string[]): Conflist {
  if (hasParent(net.driver)) return parentList(net, addresses);
  const bridge: PluginConf = {
    type: "bridge",
    bridge: net.bridge,
    // An internal network gets no gateway address on the bridge and no default route.
    isGateway: !net.internal,
    isDefaultGateway: !net.internal,
    ipMasq: false,
    // Hairpin lets a container reach itself / a neighbour through a published host port; it
    // also makes the plugin turn IPv6 DAD off on the container side (no 1-2 s wait).
    hairpinMode: true,
    ipam: staticIpam(net, addresses, false),
  };
  if (net.mtu > 0) bridge.mtu = net.mtu;
  return { cniVersion: CNI_VERSION, name: net.name, plugins: [bridge] };
}

/**
 * macvlan/ipvlan: a child of the parent interface, moved into the container. The gateway is a
 * router on the parent's LAN (not the host): the default route goes through it unless internal.
 */
function parentList(net: NetworkRecord, addresses: readonly string[]): Conflist {
  const plugin: PluginConf = {
    type: net.driver,
    master: net.options.parent,
    mode: net.options.mode,
    ipam: staticIpam(net, addresses, true),
  };
  if (net.mtu > 0) plugin.mtu = net.mtu;
  return { cniVersion: CNI_VERSION, name: net.name, plugins: [plugin] };
}

/**
 * polis's addresses, handed to the `static` IPAM plugin. `routes`: default routes (through each
 * address's gateway) for the plugins that do not add them themselves.
 */
function staticIpam(net: NetworkRecord, addresses: readonly string[], routes: boolean): Record<string, unknown> {
  const gatewayOf = (a: string) => net.subnets.find((x) => x.subnet.includes(":") === a.includes(":"))?.gateway;
  const ipam: Record<string, unknown> = {
    type: "static",
    addresses: addresses.map((a) => {
      const gateway = gatewayOf(a);
      return !net.internal && gateway ? { address: a, gateway } : { address: a };
    }),
  };
  if (routes && !net.internal) {
    ipam.routes = addresses.filter((a) => gatewayOf(a)).map((a) => ({ dst: a.includes(":") ? "::/0" : "0.0.0.0/0" }));
  }
  return ipam;
}

/** `lo` up in the container's netns (the reference `loopback` plugin). */
export function loopbackList(): Conflist {
  return { cniVersion: CNI_VERSION, name: "lo", plugins: [{ type: "loopback" }] };
}
