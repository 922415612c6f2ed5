// Parses the `registries` section of polis's config file (format: registries.ts). Kept apart
// from registries.ts so that a pull without a config file never loads the YAML parser.
import type { PolisConfig } from "../config/load.js";
import { asObject, checkKeys } from "../config/load.js";
import { PolisError } from "../errors.js";
import type { RegistriesConfig } from "./registries.js";

const KEYS = ["mirrors", "insecure", "ca"];

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
      if (!list.every((x) => typeof x === "string" && x !== ""))
        throw new PolisError(`config file ${config.file}: ${path}.${key} must be a string or a list of strings`);
      return list as string[];
    };
    if (o.insecure !== undefined && typeof o.insecure !== "boolean")
      throw new PolisError(`config file ${config.file}: ${path}.insecure must be true or false`);
    out.set(host, { mirrors: strings(o.mirrors, "mirrors"), insecure: o.insecure === true, ca: strings(o.ca, "ca") });
  }
  return out;
}
