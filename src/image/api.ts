// The images room's entry points for the CLI (src/cli/{pull,images,rmi,tag,image,bundle,login}.ts):
// each opens the state store under --root, does its work, and closes it.
import type { GlobalOptions } from "../container/options.js";
import { loadConfig } from "../config/load.js";
import { Store } from "../state/store.js";
import { registriesConfig, type RegistriesConfig } from "./registries.js";

export async function withStore<T>(g: GlobalOptions, fn: (store: Store) => Promise<T> | T): Promise<T> {
  const store = Store.open(g.root);
  try {
    return await fn(store);
  } finally {
    store.close();
  }
}

export function registries(g: GlobalOptions, env: NodeJS.ProcessEnv): RegistriesConfig {
  return registriesConfig(loadConfig(g, env));
}
