// `polis network <subcommand> …`: parse, call src/network/, print.
import { PolisError } from "../errors.js";
import { bool, list, num, str, type CliContext } from "./context.js";
import { tabwriter } from "./list.js";

/** The flags each subcommand accepts (the table in commands.ts is their union). */
const FLAGS: Record<string, string[]> = {
  create: ["subnet", "gateway", "ip-range", "ipv6", "internal", "disable-dns", "mtu", "label", "driver", "opt"],
  ls: ["format", "quiet"],
  inspect: [],
  rm: ["force"],
  prune: ["force"],
  connect: ["ip", "alias"],
  disconnect: ["force"],
  reload: ["all"],
};
const ALIASES: Record<string, string> = { list: "ls", remove: "rm" };
/** [min, max] positionals after the subcommand. */
const ARITY: Record<string, [number, number]> = {
  create: [1, 1],
  ls: [0, 0],
  inspect: [1, 100],
  rm: [1, 100],
  prune: [0, 0],
  connect: [2, 2],
  disconnect: [2, 2],
  reload: [0, 100],
};

export async function run(ctx: CliContext): Promise<number | void> {
  const [given, ...args] = ctx.args;
  const sub = ALIASES[given] ?? given;
  if (!FLAGS[sub])
    throw new PolisError(`network: unknown subcommand "${given}" (create, ls, inspect, rm, prune, connect, disconnect, reload)`);
  for (const f of ctx.given) if (!FLAGS[sub].includes(f)) throw new PolisError(`network ${sub}: flag --${f} does not apply`);
  const [min, max] = ARITY[sub];
  if (args.length < min || args.length > max) {
    throw new PolisError(`network ${sub}: requires ${min === max ? `exactly ${min}` : `${min} to ${max}`} argument(s)`);
  }
  const { loadNetworkSettings } = await import("../network/settings.js");
  const settings = loadNetworkSettings(ctx.global);
  const { Store } = await import("../state/store.js");
  const store = Store.open(ctx.global.root);
  const manage = await import("../network/manage.js");
  const out = ctx.io.stdout;
  try {
    switch (sub) {
      case "create": {
        const { parseOptions } = await import("../network/drivers.js");
        const { createNetwork } = await import("../network/networks.js");
        const net = createNetwork(store, settings, {
          name: args[0],
          subnets: list(ctx, "subnet"),
          gateway: str(ctx, "gateway"),
          ipRange: str(ctx, "ip-range"),
          ipv6: bool(ctx, "ipv6"),
          internal: bool(ctx, "internal"),
          disableDns: bool(ctx, "disable-dns"),
          mtu: num(ctx, "mtu"),
          labels: labels(list(ctx, "label")),
          driver: str(ctx, "driver") ?? "bridge",
          options: parseOptions(list(ctx, "opt")),
        });
        out(`${net.name}\n`);
        return;
      }
      case "ls": {
        const nets = manage.networksForList(store, settings);
        const format = str(ctx, "format") ?? "table";
        if (bool(ctx, "quiet")) return out(nets.map((n) => `${n.name}\n`).join(""));
        if (format === "json") {
          return out(
            JSON.stringify(
              nets.map((n) => manage.inspectNetwork(store, settings, n.name)),
              null,
              2,
            ) + "\n",
          );
        }
        if (format !== "table") throw new PolisError(`--format ${format}: must be table or json`);
        const rows = [["NETWORK ID", "NAME", "DRIVER", "SUBNETS"]];
        for (const n of nets) rows.push([n.id.slice(0, 12), n.name, n.driver, n.subnets.map((s) => s.subnet).join(",")]);
        return out(tabwriter(rows));
      }
      case "inspect":
        return out(
          JSON.stringify(
            args.map((n) => manage.inspectNetwork(store, settings, n)),
            null,
            2,
          ) + "\n",
        );
      case "rm": {
        let failed = 0;
        for (const n of args) {
          try {
            await manage.removeNetwork(ctx.global, store, settings, n, bool(ctx, "force"));
            out(`${n}\n`);
          } catch (e) {
            if (args.length === 1) throw e;
            ctx.io.stderr(`${(e as Error).message}\n`);
            failed++;
          }
        }
        return failed ? 1 : 0;
      }
      case "prune":
        return out((await manage.pruneNetworks(ctx.global, store, settings)).map((n) => `${n}\n`).join(""));
      case "connect":
        await manage.connect(ctx.global.root, store, settings, args[0], args[1], list(ctx, "ip"), list(ctx, "alias"));
        return;
      case "disconnect": {
        const { getAttachment, getNetwork } = await import("../state/networks.js");
        if (!getNetwork(store, args[0])) throw new PolisError(`network ${args[0]}: no such network`);
        if (!getAttachment(store, args[0], args[1]))
          throw new PolisError(`container ${args[1]} is not connected to network ${args[0]}`);
        await manage.disconnect(ctx.global.root, store, settings, args[0], args[1]);
        return;
      }
      case "reload":
        for (const id of args) if (!store.get(id)) throw new PolisError(`container ${id} does not exist`);
        manage.reload(store);
        return;
    }
  } finally {
    store.close();
  }
}

function labels(items: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of items) {
    const eq = l.indexOf("=");
    if (eq === 0) throw new PolisError(`--label ${l}: expected key=value`);
    out[eq < 0 ? l : l.slice(0, eq)] = eq < 0 ? "" : l.slice(eq + 1);
  }
  return out;
}
