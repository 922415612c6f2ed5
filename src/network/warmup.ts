// What the "net" V8 code cache is made from (scripts/build.mjs; src/main.ts warmUp): the Node
// paths of `run|create --network -p`, `network connect|disconnect|create|ls|inspect`, run once
// against the build's throw-away root. Only records and hosts files under `scratch` are made and
// removed: no CNI plugin runs, no nft, no bridge (nothing is ever plumbed: no container exists).
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { PortRecord } from "../state/networks.js";
import { Store } from "../state/store.js";
import { detach, reserve } from "./attach.js";
import { conflistFor, loopbackList } from "./conflist.js";
import { rulesetText } from "./firewall.js";
import { hostsText } from "./names.js";
import { findNetwork } from "./networks.js";
import { loadNetworkSettings } from "./settings.js";

type Main = (argv: string[]) => Promise<unknown>;

export async function warmUpNetwork(scratch: string, main: Main): Promise<void> {
  // an empty config file of its own: the build host's /etc/polis/config.yaml or $POLIS_CONFIG play no part
  const config = join(scratch, "config.yaml");
  writeFileSync(config, "");
  const r = ["--root", scratch, "--config", config];
  const missing = join(scratch, "missing");
  for (const argv of [
    [...r, "network", "create", "--subnet", "10.254.0.0/24", "warm"],
    [...r, "network", "ls"],
    [...r, "network", "inspect", "warm"],
    // prepare (records, hosts files), then the create fails on the missing bundle and undoes it
    [...r, "run", "--bundle", missing, "--network", "warm", "-p", "8080:80", "--alias", "w", "warm-up"],
    [...r, "create", "--bundle", missing, "--network", "warm", "-p", "8081:80/udp", "warm-up"],
    [...r, "network", "connect", "warm", "warm-up"],
    [...r, "network", "disconnect", "warm", "warm-up"],
  ]) {
    await main(argv);
  }
  // What an attach and a detach do once the init exists, without the plumbing: the records,
  // the names, the plugin lists and the table's text. detach skips CNI and nft (nothing was plumbed).
  const g = { root: scratch, config } as Parameters<typeof loadNetworkSettings>[0];
  const settings = loadNetworkSettings(g);
  const store = Store.open(scratch);
  try {
    const net = findNetwork(store, settings, "warm");
    const ports = [{ hostIp: "", hostPort: 8080, containerPort: 80, protocol: "tcp" as const }];
    const att = reserve(scratch, store, settings, { containerId: "warm-up", network: net.name, ips: [], aliases: ["w"], ports });
    conflistFor(net, att.addresses);
    loopbackList();
    hostsText("warm-up", new Map([[net.name, net]]), [att]);
    const port: PortRecord = { ...ports[0], network: net.name, containerId: "warm-up", containerIp: "10.254.0.2" };
    rulesetText({ networks: [net], attachments: [att], ports: [port] }, scratch);
    await detach(scratch, store, settings, "warm-up", net.name);
    store.removeResource("warm-up", "network", net.name);
  } finally {
    store.close();
  }
}
