// The `registries` section of polis's config file (src/config/load.ts), per registry host:
//
//   registries:
//     docker.io:
//       mirrors: [mirror.example:5000]   # tried in order before the registry itself
//     localhost:5000:
//       insecure: true                   # plain HTTP allowed
//       ca: /etc/polis/certs/local.pem   # extra CA certificates (PEM) to trust for this registry
import type { PolisConfig } from "../config/load.js";
import { asObject, checkKeys } from "../config/load.js";
import { PolisError } from "../errors.js";

export interface RegistrySettings {
  mirrors: string[];
  insecure: boolean;
  ca: string[];
}

const KEYS = ["mirrors", "insecure", "ca"];

export type RegistriesConfig = Map<string, RegistrySettings>;

export function registriesConfig(config: PolisConfig): RegistriesConfig {
  const out: RegistriesConfig = new Map();
  const section = config.sections.registries;
  if (!section) return out;
  for (const [host, value] of Object.entries(section)) {
    const path = `registries.${host}`;
    const o = asObject(value ?? {}, path, config.file);
    checkKeys(o, KEYS, path, config.file);
    const strings = (v: unknown, key: string): string[] => {
      if (v === undefined || v === null) return [];
      const list = Array.isArray(v) ? v : [v];
      if (!list.every((x) => typeof x === "string" && x !== "")) throw new PolisError(`config file ${config.file}: ${path}.${key} must be a string or a list of strings`);
      return list as string[];
    };
    if (o.insecure !== undefined && typeof o.insecure !== "boolean") throw new PolisError(`config file ${config.file}: ${path}.insecure must be true or false`);
    out.set(host, { mirrors: strings(o.mirrors, "mirrors"), insecure: o.insecure === true, ca: strings(o.ca, "ca") });
  }
  return out;
}

export function settingsFor(config: RegistriesConfig, host: string): RegistrySettings {
  return config.get(host) ?? { mirrors: [], insecure: false, ca: [] };
}
