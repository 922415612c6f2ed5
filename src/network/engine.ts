// The network room's step of `polis run|create` (src/engine/run.ts): --network NAME|none|host,
// --ip, --alias, -p/--publish. Before create: flags checked, the release seam's row recorded and
// the container's hosts/resolv.conf files made (bind-mounted by the spec edit). Once the init's
// netns exists (afterInit): addresses and ports reserved, CNI ADD, firewall, neighbours' names.
// Any failure after the row exists is undone by the create's own cleanup (releaseResources).
import { existsSync } from "node:fs";
import { PolisError } from "../errors.js";
import type { GlobalOptions } from "../container/options.js";
import type { Spec } from "../spec/types.js";
import { validateId } from "../spec/id.js";
import { Store } from "../state/store.js";
import { ContainerExistsError } from "../state/types.js";
import { checkPublishable, SANDBOX_KIND, loopbackOnly, plumb, releaseRow, reserve, RESOURCE_KIND } from "./attach.js";
import type { NetworkSettings } from "./config.js";
import { hostsPath, hostsText, resolvPath, writeNames } from "./names.js";
import { findNetwork } from "./networks.js";
import { parsePublish, type PortMapping } from "./ports.js";
import { loadNetworkSettings } from "./settings.js";
import { phase } from "../timing.js";

/** The run/create flags of this room (src/engine/flags.ts lists them). */
export { NETWORK_FLAGS } from "../engine/flags.js";

export interface NetworkFlags {
  /** NAME, "none", "host"; undefined = the default network. */
  network?: string;
  ips: string[];
  aliases: string[];
  publish: string[];
}

export interface NetworkStep {
  /** Changes to config.json before the init is made (netns, /etc/hosts, /etc/resolv.conf). */
  editSpec(spec: Spec): void;
  /** Runs once the init's namespaces exist, before the container is recorded as created. */
  afterInit(pid: number): Promise<void>;
  /** The create failed before its container row existed (a bad bundle): take back what prepare made. */
  undo?(): Promise<void>;
}

export function prepareNetwork(g: GlobalOptions, id: string, flags: NetworkFlags): NetworkStep {
  phase("network module load");
  validateId(id); // before it names a directory under the root
  const settings = loadNetworkSettings(g);
  phase("network config");
  const mode = flags.network ?? settings.defaultNetwork;
  if (mode === "host" || mode === "none") {
    for (const [flag, v] of [
      ["--ip", flags.ips],
      ["--alias", flags.aliases],
      ["--publish", flags.publish],
    ] as const) {
      if (v.length) throw new PolisError(`${flag} needs a network to attach to, not --network ${mode}`);
    }
    return mode === "host" ? hostMode() : noneMode(g, settings, id);
  }
  const ports: PortMapping[] = flags.publish.flatMap(parsePublish);
  const network = mode === "bridge" ? settings.defaultNetwork : mode;
  const store = Store.open(g.root);
  try {
    // Fail before anything exists: the network must be there (the default one is made here).
    const net = findNetwork(store, settings, network);
    checkPublishable(net, ports);
    store.transaction(() => {
      if (store.get(id)) throw new ContainerExistsError(id);
      store.addResource(id, RESOURCE_KIND, net.name, {});
    });
    writeNames(g.root, id, hostsText(id, new Map(), []));
    phase("network reserve");
    return {
      editSpec: (spec) => {
        ownNetns(spec, network);
        addNamesMounts(spec, g.root, id);
      },
      afterInit: async (pid) => {
        const s = Store.open(g.root);
        try {
          reserve(g.root, s, settings, { containerId: id, network: net.name, ips: flags.ips, aliases: flags.aliases, ports });
          phase("network addresses");
          await plumb(g.root, s, settings, id, net.name, pid);
          phase("network attach");
        } finally {
          s.close();
        }
      },
      undo: () => abandon(g, settings, id),
    };
  } finally {
    store.close();
  }
}

async function abandon(g: GlobalOptions, settings: NetworkSettings, id: string): Promise<void> {
  const store = Store.open(g.root);
  try {
    if (store.get(id)) return; // a container row: its cleanup (or a delete) releases everything
    for (const row of store
      .resourcesOf(id)
      .filter((r) => r.kind === RESOURCE_KIND || r.kind === SANDBOX_KIND)
      .reverse()) {
      await releaseRow(g.root, store, settings, id, row);
      store.removeResource(id, row.kind, row.name);
    }
  } finally {
    store.close();
  }
}

/** `--network host`: no network namespace of its own. */
function hostMode(): NetworkStep {
  return {
    editSpec: (spec) => {
      if (spec.linux?.namespaces) spec.linux.namespaces = spec.linux.namespaces.filter((n) => n.type !== "network");
    },
    afterInit: async () => {},
  };
}

/** `--network none`: a network namespace of its own with only `lo`, up. */
function noneMode(g: GlobalOptions, settings: NetworkSettings, id: string): NetworkStep {
  return {
    editSpec: (spec) => ownNetns(spec, "none"),
    afterInit: async (pid) => {
      const store = Store.open(g.root);
      try {
        await loopbackOnly(store, settings, id, pid);
      } finally {
        store.close();
      }
    },
    undo: () => abandon(g, settings, id),
  };
}

function ownNetns(spec: Spec, network: string): void {
  spec.linux ??= {};
  const namespaces = (spec.linux.namespaces ??= []);
  const ns = namespaces.find((n) => n.type === "network");
  if (ns?.path)
    throw new PolisError(
      `--network ${network}: config.json joins the network namespace ${ns.path}; remove linux.namespaces' network path`,
    );
  if (!ns) namespaces.push({ type: "network" });
}

function addNamesMounts(spec: Spec, root: string, id: string): void {
  const mounts = (spec.mounts ??= []).filter((m) => m.destination !== "/etc/hosts" && m.destination !== "/etc/resolv.conf");
  for (const [dest, src] of [
    ["/etc/hosts", hostsPath(root, id)],
    ["/etc/resolv.conf", resolvPath(root, id)],
  ]) {
    if (!existsSync(src)) throw new PolisError(`network: ${src} was not made`);
    mounts.push({ destination: dest, type: "bind", source: src, options: ["bind", "rw"] });
  }
  spec.mounts = mounts;
}
