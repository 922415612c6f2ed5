// Names without a DNS server (nerdctl's way): every container on a polis network gets its own
// /etc/hosts and /etc/resolv.conf, kept in the state root and bind-mounted into the container.
// Its hosts file lists the members of the networks it is on (by id, `id.NETWORK`, aliases and
// `alias.NETWORK`), never those of other networks; resolv.conf sends the rest to the host's
// resolvers. The files are rewritten in place (same inode) so that the bind mounts see changes.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { AttachmentRecord, NetworkRecord } from "../state/networks.js";

export function namesDir(root: string, containerId: string): string {
  return join(root, "network", "containers", containerId);
}

export function hostsPath(root: string, containerId: string): string {
  return join(namesDir(root, containerId), "hosts");
}

export function resolvPath(root: string, containerId: string): string {
  return join(namesDir(root, containerId), "resolv.conf");
}

/** The hosts file of `containerId`, given all attachments of the networks it is on. */
export function hostsText(
  containerId: string,
  networks: ReadonlyMap<string, NetworkRecord>,
  attachments: readonly AttachmentRecord[],
): string {
  const lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"];
  const mine = new Set(attachments.filter((a) => a.containerId === containerId).map((a) => a.network));
  for (const a of attachments) {
    if (!mine.has(a.network)) continue;
    const net = networks.get(a.network);
    if (!net || (!net.dns && a.containerId !== containerId)) continue;
    const names = [a.containerId, ...a.aliases];
    const all = [...names, ...names.map((n) => `${n}.${a.network}`)];
    for (const addr of a.addresses) lines.push(`${addr.split("/")[0]}\t${all.join(" ")}`);
  }
  return lines.join("\n") + "\n";
}

/** The host's resolv.conf without loopback nameservers (unreachable from a container's netns). */
export function resolvText(hostResolv = "/etc/resolv.conf"): string {
  let text = "";
  try {
    text = readFileSync(hostResolv, "utf8");
  } catch {
    return "";
  }
  const kept = text.split("\n").filter((l) => {
    const m = /^\s*nameserver\s+(\S+)/.exec(l);
    return !m || !(m[1].startsWith("127.") || m[1] === "::1");
  });
  return kept.join("\n").replace(/\n*$/, "\n");
}

/** Writes (in place) the files of `containerId`; makes them when missing. */
export function writeNames(root: string, containerId: string, hosts: string): void {
  mkdirSync(namesDir(root, containerId), { recursive: true, mode: 0o755 });
  writeFileSync(hostsPath(root, containerId), hosts, { mode: 0o644 });
  if (!existsSync(resolvPath(root, containerId))) writeFileSync(resolvPath(root, containerId), resolvText(), { mode: 0o644 });
}

export function removeNames(root: string, containerId: string): void {
  rmSync(namesDir(root, containerId), { recursive: true, force: true });
}
