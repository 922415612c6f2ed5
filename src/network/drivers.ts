// Network drivers, with podman's names and flags (`network create -d bridge|macvlan|ipvlan
// [-o parent=IF] [-o mode=M] [-o mtu=N]`):
//   bridge   a polis bridge per network; NAT, published ports and isolation in polis's nftables
//            table (firewall.ts)
//   macvlan  each container gets a child interface of a host interface (the parent) with its own
//   ipvlan   MAC (macvlan) or the parent's MAC (ipvlan): it sits on the parent's LAN, next to the
//            host, reached at its own address. Its traffic never crosses the host's forward path,
//            so published ports, masquerade and isolation rules do not apply (refused or
//            documented, as podman does); IPAM stays polis's, names are the same hosts files.
import { execFileSync } from "node:child_process";
import { PolisError } from "../errors.js";

export const DRIVERS = ["bridge", "macvlan", "ipvlan"] as const;
export type Driver = (typeof DRIVERS)[number];

/** The modes of the kernel drivers (the CNI plugins' `mode`); the first is the default. */
export const MODES: Record<Exclude<Driver, "bridge">, readonly string[]> = {
  macvlan: ["bridge", "private", "vepa", "passthru"],
  ipvlan: ["l2", "l3", "l3s"],
};

const OPTIONS: Record<Driver, readonly string[]> = {
  bridge: ["mtu"],
  macvlan: ["parent", "mode", "mtu"],
  ipvlan: ["parent", "mode", "mtu"],
};

export function isDriver(d: string): d is Driver {
  return (DRIVERS as readonly string[]).includes(d);
}

/** A network whose containers hang off a host interface instead of a polis bridge. */
export function hasParent(driver: string): driver is "macvlan" | "ipvlan" {
  return driver === "macvlan" || driver === "ipvlan";
}

/** `-o key=value` items as a map; errors name the item. */
export function parseOptions(items: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf("=");
    if (eq <= 0) throw new PolisError(`-o ${item}: expected key=value (e.g. -o parent=eth0)`);
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

export interface DriverChoice {
  driver: Driver;
  /** What is recorded: parent and mode for macvlan/ipvlan (filled in with their defaults). */
  options: Record<string, string>;
  /** `-o mtu=N`, when given. */
  mtu?: number;
}

/**
 * Checks `--driver` and its `-o` options; resolves a macvlan/ipvlan parent left out to the
 * interface of the default route, as podman does. Runs before anything is recorded.
 */
export function chooseDriver(driver: string, opts: Record<string, string>, hasSubnet: boolean): DriverChoice {
  if (!isDriver(driver)) throw new PolisError(`--driver ${driver}: unknown driver (bridge, macvlan, ipvlan)`);
  for (const k of Object.keys(opts)) {
    if (!OPTIONS[driver].includes(k)) {
      throw new PolisError(`-o ${k}: not an option of the ${driver} driver (${OPTIONS[driver].join(", ")})`);
    }
  }
  let mtu: number | undefined;
  if (opts.mtu !== undefined) {
    mtu = /^\d+$/.test(opts.mtu) ? Number(opts.mtu) : Number.NaN;
    if (Number.isNaN(mtu)) throw new PolisError(`-o mtu=${opts.mtu}: not a number`);
  }
  if (!hasParent(driver)) return { driver, options: {}, mtu };
  // The addresses must be those of the parent's LAN: nothing a pool could guess (netavark, too,
  // needs --subnet for macvlan; DHCP is not supported).
  if (!hasSubnet) throw new PolisError(`--driver ${driver} needs --subnet (the parent interface's network)`);
  const mode = opts.mode ?? MODES[driver][0];
  if (!MODES[driver].includes(mode)) throw new PolisError(`-o mode=${mode}: ${driver} modes are ${MODES[driver].join(", ")}`);
  const parent = opts.parent ?? defaultRouteInterface();
  if (parent === undefined) {
    throw new PolisError(`--driver ${driver}: give -o parent=INTERFACE (there is no default route to take it from)`);
  }
  checkParent(parent, "-o parent");
  return { driver, options: { parent, mode }, mtu };
}

/** Throws, naming `what`, unless `name` is an interface of this network namespace. */
export function checkParent(name: string, what: string): void {
  if (!/^[^\s/:]{1,15}$/.test(name)) throw new PolisError(`${what}=${name}: not an interface name`);
  try {
    execFileSync("ip", ["-o", "link", "show", "dev", name], { stdio: "ignore" });
  } catch {
    throw new PolisError(`${what}=${name}: no such network interface`);
  }
}

/** The interface of the IPv4 (else IPv6) default route, if any. */
function defaultRouteInterface(): string | undefined {
  for (const family of ["-4", "-6"]) {
    try {
      const out = execFileSync("ip", [family, "-o", "route", "show", "default"], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "ignore"],
      });
      const m = / dev (\S+)/.exec(out);
      if (m) return m[1];
    } catch {
      // no such family
    }
  }
  return undefined;
}
