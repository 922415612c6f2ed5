// The CNI protocol (spec 1.x), from the runtime's side: exec the plugin named by `type` found in
// the plugin directories, with CNI_* in the environment and the network config on stdin; read the
// result (or the {code, msg, details} error) from stdout. A conflist is run in order for ADD,
// each plugin getting the previous result as prevResult, and in reverse for DEL.
import { spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { join } from "node:path";
import { PolisError } from "../errors.js";

export const CNI_VERSION = "1.0.0";

export interface PluginConf {
  type: string;
  [key: string]: unknown;
}

export interface Conflist {
  cniVersion: string;
  name: string;
  plugins: PluginConf[];
}

export interface CniArgs {
  containerId: string;
  /** Path of the netns; "" for a DEL whose netns is gone. */
  netns: string;
  ifname: string;
  pluginDirs: readonly string[];
}

export type CniResult = Record<string, unknown>;

/** The plugin binary for `type`, or a one-line error naming the plugin and where it was looked for. */
export function findPlugin(type: string, dirs: readonly string[], network: string): string {
  if (!/^[A-Za-z0-9_.-]+$/.test(type)) throw new PolisError(`network ${network}: bad CNI plugin type "${type}"`);
  for (const d of dirs) {
    const p = join(d, type);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // next directory
    }
  }
  throw new PolisError(
    `network ${network}: CNI plugin "${type}" not found in ${dirs.join(", ")} (install containernetworking-plugins, or set network.cni_plugin_dirs)`,
  );
}

/** Fails before anything is made when a plugin of the list is missing. */
export function checkPlugins(list: Conflist, dirs: readonly string[]): void {
  for (const p of list.plugins) findPlugin(p.type, dirs, list.name);
}

export class CniError extends PolisError {}

/** One plugin call. Resolves to the parsed stdout (empty object for an empty DEL answer). */
export function execPlugin(
  command: "ADD" | "DEL" | "CHECK",
  conf: object,
  args: CniArgs,
  type: string,
  network: string,
): Promise<CniResult> {
  const binary = findPlugin(type, args.pluginDirs, network);
  const env: Record<string, string> = {
    CNI_COMMAND: command,
    CNI_CONTAINERID: args.containerId,
    CNI_NETNS: args.netns,
    CNI_IFNAME: args.ifname,
    CNI_PATH: args.pluginDirs.join(":"),
    PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin",
  };
  return new Promise((resolve, reject) => {
    const child = spawn(binary, [], { env, stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", (e) => reject(new CniError(`network ${network}: CNI plugin ${type} ${command}: ${e.message}`)));
    child.on("close", (code, signal) => {
      const text = Buffer.concat(out).toString("utf8").trim();
      if (code === 0) {
        try {
          resolve(text === "" ? {} : (JSON.parse(text) as CniResult));
        } catch {
          reject(new CniError(`network ${network}: CNI plugin ${type} ${command}: result is not JSON: ${text.slice(0, 200)}`));
        }
        return;
      }
      let msg = Buffer.concat(err).toString("utf8").trim() || `exited ${code ?? signal}`;
      try {
        const e = JSON.parse(text) as { code?: number; msg?: string; details?: string };
        if (e.msg) msg = e.details ? `${e.msg}: ${e.details}` : e.msg;
      } catch {
        // not the JSON error shape: keep stderr
      }
      reject(new CniError(`network ${network}: CNI plugin ${type} ${command} failed: ${msg.split("\n")[0]}`));
    });
    child.stdin.on("error", () => {}); // a plugin that exits without reading its config
    child.stdin.end(JSON.stringify(conf));
  });
}

function pluginConf(list: Conflist, p: PluginConf, prevResult: CniResult | undefined): object {
  const conf: Record<string, unknown> = { ...p, cniVersion: list.cniVersion, name: list.name };
  if (prevResult !== undefined) conf.prevResult = prevResult;
  return conf;
}

/** ADD through the whole list; returns the last plugin's result. The caller DELs on failure. */
export async function addList(list: Conflist, args: CniArgs): Promise<CniResult> {
  checkPlugins(list, args.pluginDirs);
  let result: CniResult | undefined;
  for (const p of list.plugins) result = await execPlugin("ADD", pluginConf(list, p, result), args, p.type, list.name);
  return result ?? {};
}

/**
 * DEL through the list in reverse, every plugin even if one fails (the first error is thrown at
 * the end). A plugin that is missing now cannot have added anything: it is skipped.
 */
export async function delList(list: Conflist, args: CniArgs, prevResult: CniResult | undefined): Promise<void> {
  let first: unknown;
  for (const p of [...list.plugins].reverse()) {
    try {
      findPlugin(p.type, args.pluginDirs, list.name);
    } catch {
      continue;
    }
    try {
      await execPlugin("DEL", pluginConf(list, p, prevResult), args, p.type, list.name);
    } catch (e) {
      first ??= e;
    }
  }
  if (first) throw first;
}
