// polis's firewall: one nftables table, `inet polis`, generated whole from the state database and
// replaced atomically (one `nft -f` transaction) after every change and by `network reload`.
// Regenerating instead of patching means no rule handles to track, nothing left behind by a
// polis killed half-way, and a reload that is just the same call.
//
//   published  DNAT host port -> container (prerouting for traffic from outside, output for the
//              host itself, incl. localhost: route_localnet on the bridge + masquerade)
//   postrouting  masquerade a network's traffic leaving it (not for --internal), hairpin
//   forward    networks isolated from each other (except through published ports), and
//              --internal networks closed both ways
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { PolisError } from "../errors.js";
import type { AttachmentRecord, NetworkRecord, PortRecord } from "../state/networks.js";

export const TABLE = "polis";
export const BRIDGE_PREFIX = "polis";

export interface FirewallInput {
  networks: readonly NetworkRecord[];
  attachments: readonly AttachmentRecord[];
  ports: readonly PortRecord[];
}

function fam(cidrOrIp: string): "ip" | "ip6" {
  return cidrOrIp.includes(":") ? "ip6" : "ip";
}

/** The rules of one network (also what `network inspect` lists), per chain. */
export function networkRules(net: NetworkRecord): { postrouting: string[]; forward: string[] } {
  const br = `"${net.bridge}"`;
  const postrouting: string[] = [];
  const forward: string[] = [];
  // macvlan/ipvlan: the containers' traffic leaves through the parent, never the host's forward path
  if (net.driver !== "bridge") return { postrouting, forward };
  for (const s of net.subnets) {
    const f = fam(s.subnet);
    // hairpin: a container reaching a neighbour (or itself) through a published host port
    postrouting.push(`ct status dnat oifname ${br} ${f} saddr ${s.subnet} masquerade comment "${net.name} hairpin"`);
    if (!net.internal) postrouting.push(`${f} saddr ${s.subnet} oifname != ${br} masquerade comment "${net.name} outbound"`);
  }
  if (net.internal) {
    forward.push(`iifname ${br} oifname != ${br} drop comment "${net.name} internal"`);
    forward.push(`oifname ${br} iifname != ${br} drop comment "${net.name} internal"`);
  } else {
    forward.push(`iifname ${br} oifname ${br} accept comment "${net.name} same network"`);
  }
  return { postrouting, forward };
}

/** The DNAT rules of one published port (IPv4, and IPv6 when the container has an IPv6 address). */
export function portRules(p: PortRecord, v6: string | undefined): string[] {
  const out: string[] = [];
  const comment = `comment "${p.containerId} ${p.network}"`;
  const match = `${p.protocol} dport ${p.hostPort}`;
  if (p.hostIp === "" || !p.hostIp.includes(":")) {
    const daddr = p.hostIp === "" ? "meta nfproto ipv4" : `ip daddr ${p.hostIp}`;
    out.push(`${daddr} ${match} dnat ip to ${p.containerIp}:${p.containerPort} ${comment}`);
  }
  if (v6 && (p.hostIp === "" || p.hostIp.includes(":"))) {
    const daddr = p.hostIp === "" ? "meta nfproto ipv6" : `ip6 daddr ${p.hostIp}`;
    out.push(`${daddr} ${match} dnat ip6 to [${v6}]:${p.containerPort} ${comment}`);
  }
  return out;
}

/**
 * The whole table as an nft script: create-if-missing, delete, re-create (one transaction). Its
 * comment names the polis root whose records it was made from (`owner`).
 */
export function rulesetText(input: FirewallInput, owner = ""): string {
  const post: string[] = [`ct status dnat ip saddr 127.0.0.0/8 masquerade comment "published port from localhost"`];
  const fwd: string[] = [`ct state established,related accept`];
  const internalDrops: string[] = [];
  for (const n of input.networks) {
    const r = networkRules(n);
    post.push(...r.postrouting);
    for (const rule of r.forward) (rule.includes(" drop ") ? internalDrops : fwd).push(rule);
  }
  fwd.push(...internalDrops);
  fwd.push(`ct status dnat accept comment "published ports"`);
  fwd.push(`iifname "${BRIDGE_PREFIX}*" oifname "${BRIDGE_PREFIX}*" drop comment "networks are isolated from each other"`);
  const v6Of = new Map(
    input.attachments.map((a) => [`${a.network}\0${a.containerId}`, a.addresses.find((x) => x.includes(":"))?.split("/")[0]]),
  );
  const published = input.ports.flatMap((p) => portRules(p, v6Of.get(`${p.network}\0${p.containerId}`)));
  const chain = (name: string, hook: string, body: string[]) =>
    `  chain ${name} {\n${hook ? `    ${hook}\n` : ""}${body.map((r) => `    ${r}\n`).join("")}  }\n`;
  return (
    `table inet ${TABLE} {}\ndelete table inet ${TABLE}\ntable inet ${TABLE} {\n` +
    `  comment "${OWNER_PREFIX}${owner.replace(/["\\]/g, "_")}"\n` +
    chain("published", "", published) +
    chain("prerouting", "type nat hook prerouting priority dstnat; policy accept;", ["fib daddr type local jump published"]) +
    // ::1 is never DNATed (it could not leave the host): [::1]:PORT is refused at once, and a
    // client trying localhost falls back to 127.0.0.1, instead of waiting for a dropped SYN.
    chain("output", "type nat hook output priority -100; policy accept;", [
      "ip6 daddr ::1 return",
      "fib daddr type local jump published",
    ]) +
    chain("postrouting", "type nat hook postrouting priority srcnat; policy accept;", post) +
    chain("forward", "type filter hook forward priority filter; policy accept;", fwd) +
    `}\n`
  );
}

const OWNER_PREFIX = "polis root ";

/**
 * Replaces the table (atomically). Bridge names and the table are per host (per network
 * namespace): a table made from another polis root's records is not silently replaced.
 */
export function applyRuleset(input: FirewallInput, owner: string): void {
  checkOwner(owner);
  runNft(["-f", "-"], rulesetText(input, owner));
  // A published port reached from the host as 127.0.0.1 leaves through the bridge with a loopback
  // source: the kernel allows that only with route_localnet on the outgoing device.
  for (const n of input.networks) {
    if (n.driver !== "bridge") continue;
    try {
      writeFileSync(`/proc/sys/net/ipv4/conf/${n.bridge}/route_localnet`, "1");
    } catch {
      // the bridge does not exist yet (made by the first attach, which syncs again)
    }
  }
}

export function runNft(args: string[], input?: string): string {
  try {
    return execFileSync("nft", args, { input, encoding: "utf8", stdio: ["pipe", "pipe", "pipe"] });
  } catch (e) {
    const err = e as { code?: string; stderr?: string; message: string };
    if (err.code === "ENOENT") throw new PolisError("nft not found: install the nftables package");
    const why = (err.stderr ?? err.message).trim().split("\n")[0];
    throw new PolisError(`nftables: nft ${args.join(" ")}: ${why}`);
  }
}

export function tableExists(): boolean {
  try {
    runNft(["list", "table", "inet", TABLE]);
    return true;
  } catch {
    return false;
  }
}

/** Throws when the table on this host was made by another polis root. */
export function checkOwner(owner: string): void {
  const current = tableOwner();
  if (current !== undefined && current !== owner.replace(/["\\]/g, "_")) {
    throw new PolisError(
      `nftables table inet ${TABLE} belongs to polis root ${current}: two roots cannot both use networks on one host (if that root is gone: nft delete table inet ${TABLE})`,
    );
  }
}

/** The root named in the table's comment; undefined when there is no table (or no comment). */
export function tableOwner(): string | undefined {
  let text: string;
  try {
    text = runNft(["list", "table", "inet", TABLE]);
  } catch {
    return undefined;
  }
  const m = new RegExp(`^\\s*comment "${OWNER_PREFIX}([^"]*)"`, "m").exec(text);
  return m?.[1];
}

/** Removes the table (last network gone). */
export function removeRuleset(): void {
  try {
    runNft(["delete", "table", "inet", TABLE]);
  } catch {
    // not there
  }
}
