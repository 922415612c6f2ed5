// polis's IPAM: addresses come from the state database, one row per address, taken inside the
// caller's write transaction (BEGIN IMMEDIATE), so concurrent `run --network` processes queue
// and never get the same address. The CNI plugins are then handed the result as static
// addresses: nothing is kept in plugin-private files, so a reboot loses nothing.
import { PolisError } from "../errors.js";
import { addressHolder, allocatedAddresses, releaseAddresses, takeAddress, type NetworkRecord } from "../state/networks.js";
import type { Store } from "../state/store.js";
import { contains, formatIp, parseCidr, parseIp, usableRange, type Family } from "./cidr.js";

/**
 * Takes one address per subnet of `net` for `containerId`: the requested one of that family
 * (`--ip`), else the lowest free one. Returns "address/prefix" strings. Call inside
 * store.transaction().
 */
export function allocate(store: Store, net: NetworkRecord, containerId: string, requested: readonly string[] = []): string[] {
  const wanted = new Map<Family, { text: string; value: bigint }>();
  for (const ip of requested) {
    const { family, value } = parseIp(ip, "--ip");
    if (wanted.has(family)) throw new PolisError(`--ip: two IPv${family} addresses given (${wanted.get(family)!.text}, ${ip})`);
    wanted.set(family, { text: ip, value });
  }
  for (const [family, w] of wanted) {
    if (!net.subnets.some((s) => parseCidr(s.subnet).family === family)) {
      throw new PolisError(`--ip ${w.text}: network ${net.name} has no IPv${family} subnet`);
    }
  }
  const taken = new Set(allocatedAddresses(store, net.name));
  const out: string[] = [];
  for (const s of net.subnets) {
    const subnet = parseCidr(s.subnet);
    const range = usableRange(subnet, s.ipRange ? parseCidr(s.ipRange) : undefined);
    const gateway = s.gateway ? parseIp(s.gateway).value : undefined;
    const w = wanted.get(subnet.family);
    let value: bigint | undefined;
    if (w) {
      if (!contains(subnet, subnet.family, w.value))
        throw new PolisError(`--ip ${w.text}: outside network ${net.name}'s subnet ${s.subnet}`);
      if (w.value < usableRange(subnet).first || w.value > usableRange(subnet).last || w.value === gateway) {
        throw new PolisError(`--ip ${w.text}: reserved in network ${net.name} (network, broadcast or gateway address)`);
      }
      const address = formatIp(subnet.family, w.value);
      if (!takeAddress(store, net.name, address, containerId)) {
        throw new PolisError(
          `--ip ${w.text}: already taken on network ${net.name} by container ${addressHolder(store, net.name, address)}`,
        );
      }
      value = w.value;
    } else {
      for (let v = range.first; v <= range.last; v++) {
        if (v === gateway) continue;
        const address = formatIp(subnet.family, v);
        if (taken.has(address)) continue;
        if (takeAddress(store, net.name, address, containerId)) {
          value = v;
          break;
        }
      }
      if (value === undefined) throw new PolisError(`network ${net.name}: no free address left in ${s.ipRange ?? s.subnet}`);
    }
    out.push(`${formatIp(subnet.family, value)}/${subnet.prefix}`);
  }
  return out;
}

/** Frees every address `containerId` holds on `network`; harmless when there are none. */
export function release(store: Store, network: string, containerId: string): void {
  releaseAddresses(store, network, containerId);
}
