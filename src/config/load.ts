// polis's own configuration file: YAML, one section per room beside the runtime.
//
//   registries:  mirrors, insecure registries, CA files    (src/image/)
//   network:     default network, subnet pool               (src/network/)
//   monitor:     listen address, retention, alert rules     (src/monitor/)
//
// Only the standalone subcommands read it (pull, network, monitor, run --image …): the runtime
// commands containerd and podman call never open it (nor load this module and its yaml parser). Each room checks its own section with
// checkKeys, so an unknown key anywhere is an error that names the key and the file.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { PolisError } from "../errors.js";
import type { GlobalOptions } from "../container/options.js";

export const DEFAULT_CONFIG = "/etc/polis/config.yaml";
export const CONFIG_ENV = "POLIS_CONFIG";

/** The sections polis knows; each belongs to one room, which validates its content. */
export const SECTIONS = ["registries", "network", "monitor"] as const;
export type Section = (typeof SECTIONS)[number];

export interface PolisConfig {
  /** The file the config came from ("" when there was none). */
  file: string;
  sections: Partial<Record<Section, Record<string, unknown>>>;
}

/**
 * Reads the config named by --config, else $POLIS_CONFIG, else /etc/polis/config.yaml. A missing
 * default file is an empty config; a file named explicitly must exist.
 */
export function loadConfig(g: Pick<GlobalOptions, "config">, env: NodeJS.ProcessEnv = process.env): PolisConfig {
  const explicit = g.config ?? (env[CONFIG_ENV] || undefined);
  const file = explicit ?? DEFAULT_CONFIG;
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" && explicit === undefined) return { file: "", sections: {} };
    throw new PolisError(`config file ${file}: ${(err as Error).message}`);
  }
  return parseConfig(text, file);
}

/** Parses the YAML text of `file` and checks its top level. */
export function parseConfig(text: string, file: string): PolisConfig {
  let doc: unknown;
  try {
    doc = loadYaml().parse(text, { prettyErrors: false });
  } catch (err) {
    const first = String((err as Error).message).split("\n")[0];
    throw new PolisError(`config file ${file}: ${first}`);
  }
  if (doc === null || doc === undefined) return { file, sections: {} };
  const top = asObject(doc, "(top level)", file);
  checkKeys(top, SECTIONS, "", file);
  const sections: PolisConfig["sections"] = {};
  for (const name of SECTIONS) {
    if (top[name] !== undefined && top[name] !== null) sections[name] = asObject(top[name], name, file);
  }
  return { file, sections };
}

/**
 * The YAML parser, loaded only when there is a file to parse: ~160 KB that `run --network` and
 * `network connect` without a config file would otherwise compile (~7-15 ms). A leaf of the
 * bundle (dist/lib/yaml.cjs, scripts/build.mjs); from node_modules when running the source.
 */
function loadYaml(): typeof import("yaml") {
  try {
    return require("yaml") as typeof import("yaml");
  } catch {
    return createRequire(import.meta.url)("yaml") as typeof import("yaml");
  }
}

/** Throws for the first key of `obj` not in `allowed`, naming its full path and the file. */
export function checkKeys(obj: Record<string, unknown>, allowed: readonly string[], path: string, file: string): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) {
      const where = path ? `${path}.${key}` : key;
      throw new PolisError(`config file ${file}: unknown key "${where}" (known: ${allowed.join(", ")})`);
    }
  }
}

/** `value` as a mapping, or an error naming `path` and the file. */
export function asObject(value: unknown, path: string, file: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new PolisError(`config file ${file}: ${path} must be a mapping`);
  }
  return value as Record<string, unknown>;
}
