// The network section of polis's config file (src/config/load.ts), validated.
import { loadConfig } from "../config/load.js";
import type { GlobalOptions } from "../container/options.js";
import { networkSettings, type NetworkSettings } from "./config.js";

export function loadNetworkSettings(g: GlobalOptions): NetworkSettings {
  const config = loadConfig(g);
  return networkSettings(config.sections.network, config.file || "(defaults)");
}
