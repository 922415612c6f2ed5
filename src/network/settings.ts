// The network section of polis's config file, validated.
import { readFileSync } from "node:fs";
import { PolisError } from "../errors.js";
import type { GlobalOptions } from "../container/options.js";
import { networkSettings, type NetworkSettings } from "./config.js";

/** TEMPORARY until the shared loader (src/config/load.ts) lands: POLIS_CONFIG, else /etc/polis/config.yaml. */
export async function loadNetworkSettings(_g: GlobalOptions): Promise<NetworkSettings> {
  const explicit = process.env.POLIS_CONFIG;
  const file = explicit || "/etc/polis/config.yaml";
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    if (!explicit && (e as NodeJS.ErrnoException).code === "ENOENT") return networkSettings(undefined);
    throw new PolisError(`config file ${file}: ${(e as Error).message}`);
  }
  const { parse } = await import("yaml");
  const doc = (parse(text) ?? {}) as Record<string, unknown>;
  return networkSettings(doc.network, file);
}
