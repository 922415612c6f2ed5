// The `network` section of polis's config file (src/config/load.ts reads the file), with
// podman's containers.conf names and defaults:
//
//   network:
//     default_network: polis            # what `run --network` without a name… and `network` commands use
//     default_subnet: 10.88.0.0/16      # the default network's subnet, made on first use
//     default_subnet_pools:             # where `network create` without --subnet takes a subnet
//       - { base: 10.89.0.0/16, size: 24 }
//       - { base: "fd89::/48", size: 64 }
//     cni_plugin_dirs: [/usr/lib/cni, /opt/cni/bin]
import { checkKeys } from "../config/load.js";
import { PolisError } from "../errors.js";
import { parseCidr, type Cidr } from "./cidr.js";

export interface SubnetPool {
  base: Cidr;
  size: number;
}

export interface NetworkSettings {
  defaultNetwork: string;
  defaultSubnet: Cidr;
  pools: SubnetPool[];
  pluginDirs: string[];
}

export const DEFAULT_NETWORK = "polis";

const KEYS = ["default_network", "default_subnet", "default_subnet_pools", "cni_plugin_dirs"];

/** Validates the `network` section (undefined = all defaults); errors name the key and the file. */
export function networkSettings(section: unknown, file = "config file"): NetworkSettings {
  const s = (section ?? {}) as Record<string, unknown>;
  if (typeof s !== "object" || Array.isArray(s)) throw new PolisError(`${file}: network: must be a mapping`);
  checkKeys(s, KEYS, "network", file);
  const str = (key: string, dflt: string): string => {
    const v = s[key] ?? dflt;
    if (typeof v !== "string" || v === "") throw new PolisError(`${file}: network.${key}: must be a non-empty string`);
    return v;
  };
  const defaultNetwork = str("default_network", DEFAULT_NETWORK);
  const defaultSubnet = parseCidr(str("default_subnet", "10.88.0.0/16"), `${file}: network.default_subnet`);
  const rawPools = s.default_subnet_pools ?? [
    { base: "10.89.0.0/16", size: 24 },
    { base: "fd89::/48", size: 64 },
  ];
  if (!Array.isArray(rawPools)) throw new PolisError(`${file}: network.default_subnet_pools: must be a list of {base, size}`);
  const pools = rawPools.map((p, i) => {
    const where = `${file}: network.default_subnet_pools[${i}]`;
    const o = p as Record<string, unknown>;
    if (typeof o !== "object" || o === null || typeof o.base !== "string" || typeof o.size !== "number") {
      throw new PolisError(`${where}: must be {base: CIDR, size: prefix length}`);
    }
    checkKeys(o, ["base", "size"], `network.default_subnet_pools[${i}]`, file);
    const base = parseCidr(o.base, `${where}.base`);
    if (!Number.isInteger(o.size) || o.size < base.prefix || o.size > (base.family === 4 ? 30 : 126)) {
      throw new PolisError(
        `${where}.size: ${o.size} must be a prefix length between /${base.prefix} and /${base.family === 4 ? 30 : 126}`,
      );
    }
    return { base, size: o.size };
  });
  const dirs = s.cni_plugin_dirs ?? ["/usr/lib/cni", "/opt/cni/bin"];
  if (!Array.isArray(dirs) || dirs.some((d) => typeof d !== "string" || !d.startsWith("/"))) {
    throw new PolisError(`${file}: network.cni_plugin_dirs: must be a list of absolute directories`);
  }
  return { defaultNetwork, defaultSubnet, pools, pluginDirs: dirs as string[] };
}
