// The CNI network configuration polis generates for one container on one network. The data plane
// is the reference `bridge` plugin (bridge, veth, addresses, routes, hairpin) fed polis's own IPAM
// through the `static` IPAM plugin. NAT, published ports and isolation are polis's nftables table
// (firewall.ts), not `portmap`/`firewall`/`ipMasq`: Debian 12's plugins (1.1.1) only speak
// iptables there, and their rules live in the shared iptables tables, not in a table of polis's own.
import type { NetworkRecord } from "../state/networks.js";
import { CNI_VERSION, type Conflist, type PluginConf } from "./cni.js";

/** The list for `net`, with `addresses` ("ip/prefix") as the static IPAM result. */
export function conflistFor(net: NetworkRecord, addresses: readonly string[]): Conflist {
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
    ipam: {
      type: "static",
      addresses: addresses.map((a) => {
        const family = a.includes(":") ? 6 : 4;
        const s = net.subnets.find((x) => x.subnet.includes(":") === (family === 6));
        return !net.internal && s?.gateway ? { address: a, gateway: s.gateway } : { address: a };
      }),
    },
  };
  if (net.mtu > 0) bridge.mtu = net.mtu;
  return { cniVersion: CNI_VERSION, name: net.name, plugins: [bridge] };
}

/** `lo` up in the container's netns (the reference `loopback` plugin). */
export function loopbackList(): Conflist {
  return { cniVersion: CNI_VERSION, name: "lo", plugins: [{ type: "loopback" }] };
}
