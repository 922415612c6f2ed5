// The images room's entry points for the CLI (src/cli/{pull,images,rmi,tag,image,bundle,login}.ts):
// each opens the state store under --root, does its work, and closes it.
import { existsSync } from "node:fs";
import type { GlobalOptions } from "../container/options.js";
import { Store } from "../state/store.js";
import { phase } from "../timing.js";
import type { RegistriesConfig } from "./registries.js";

// src/config/load.ts's defaults, repeated here so that importing it (and yaml) waits for a file
const CONFIG_ENV = "POLIS_CONFIG";
const DEFAULT_CONFIG = "/etc/polis/config.yaml";

export async function withStore<T>(g: GlobalOptions, fn: (store: Store) => Promise<T> | T): Promise<T> {
  const store = Store.open(g.root);
  phase("state open");
  try {
    return await fn(store);
  } finally {
    store.close();
  }
}

/** The config file's registries section; no file at all costs nothing (the YAML parser is ~20 ms to load). */
export async function registries(g: GlobalOptions, env: NodeJS.ProcessEnv): Promise<RegistriesConfig> {
  if (!g.config && !env[CONFIG_ENV] && !existsSync(DEFAULT_CONFIG)) return new Map();
  const { loadConfig } = await import("../config/load.js");
  const { registriesConfig } = await import("./registries-config.js");
  return registriesConfig(loadConfig(g, env));
}
