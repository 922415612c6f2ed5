// The monitor's flags on `polis run|create` (--logs, --log-path, --log-max-size, --log-max-files,
// --health-*), parsed and checked here so that every mistake names its flag.
import { parseDuration } from "../cli/events.js";
import { PolisError } from "../errors.js";
import type { HealthConfig } from "../state/monitor.js";

import { MONITOR_FLAGS } from "../engine/flags.js";

export { MONITOR_FLAGS };

export interface MonitorOptions {
  /** Absolute; undefined: the default file in the monitor's directory. */
  logPath?: string;
  logMaxSize: number;
  logMaxFiles: number;
  health: HealthConfig | null;
  /** run --rm: delete the container (and its default log) once it has exited. */
  autoRemove: boolean;
  /** More flags for the `polis create` the monitor runs (other rooms' flags, e.g. --network). */
  createArgs?: string[];
}

/** docker's defaults. */
export const HEALTH_DEFAULTS = { intervalMs: 30_000, timeoutMs: 30_000, retries: 3, startPeriodMs: 0 };

type Values = Record<string, unknown>;

/** An image config's Healthcheck (OCI/docker: durations in nanoseconds). */
export interface ImageHealthcheck {
  Test?: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  Retries?: number;
}

/**
 * The image's Healthcheck as polis's, docker's way: ["NONE"] disables it, ["CMD", …] and
 * ["CMD-SHELL", cmd] run as given, zero or missing values take the defaults.
 */
export function healthFromImage(h: ImageHealthcheck | undefined): HealthConfig | null {
  const test = h?.Test ?? [];
  if (test.length === 0 || test[0] === "NONE") return null;
  if (test[0] !== "CMD" && test[0] !== "CMD-SHELL") return null;
  const ms = (ns: number | undefined, def: number) => (ns && ns > 0 ? ns / 1e6 : def);
  return {
    test,
    intervalMs: ms(h!.Interval, HEALTH_DEFAULTS.intervalMs),
    timeoutMs: ms(h!.Timeout, HEALTH_DEFAULTS.timeoutMs),
    retries: h!.Retries && h!.Retries > 0 ? h!.Retries : HEALTH_DEFAULTS.retries,
    startPeriodMs: ms(h!.StartPeriod, HEALTH_DEFAULTS.startPeriodMs),
    onFailure: "none",
  };
}

/**
 * The monitor's options from the command line; `image` is the Healthcheck of the image the
 * container comes from (the --health-* flags override it field by field, --health-cmd replaces it).
 */
export function monitorOptions(
  v: Values,
  given: Set<string>,
  logPath: string | undefined,
  image?: HealthConfig | null,
): MonitorOptions {
  // docker's merge: --health-cmd replaces the image's test, the image's other values stay unless flagged
  const health = given.has("health-cmd")
    ? healthConfig(v, image ?? undefined, true)
    : image
      ? healthConfig(v, image, false)
      : null;
  if (!health && !image) {
    for (const f of MONITOR_FLAGS)
      if (f.startsWith("health-") && f !== "health-cmd" && given.has(f)) throw new PolisError(`--${f} needs --health-cmd`);
  }
  const maxFiles = given.has("log-max-files") ? Number(v["log-max-files"]) : 1;
  if (!Number.isInteger(maxFiles) || maxFiles < 1)
    throw new PolisError(`invalid value "${String(v["log-max-files"])}" for flag --log-max-files: a whole number of at least 1`);
  return {
    logPath,
    logMaxSize: given.has("log-max-size") ? parseSize(String(v["log-max-size"])) : 0,
    logMaxFiles: maxFiles,
    health,
    autoRemove: v.rm === true,
  };
}

function healthConfig(v: Values, base: HealthConfig | undefined, ownCmd: boolean): HealthConfig {
  const cmd = String(v["health-cmd"] ?? "");
  if (ownCmd && cmd.trim() === "") throw new PolisError("--health-cmd must not be empty");
  const d = base ?? { ...HEALTH_DEFAULTS, test: [], onFailure: "none" as const };
  const dur = (flag: string, def: number, min: number) => {
    const raw = v[flag];
    if (raw === undefined) return def;
    const ms = parseDuration(String(raw));
    if (ms === undefined || ms < min)
      throw new PolisError(
        `invalid value "${String(raw)}" for flag --${flag}: a duration${min > 0 ? " above 0" : ""} (30s, 1m30s)`,
      );
    return ms;
  };
  const retries = v["health-retries"] === undefined ? d.retries : Number(v["health-retries"]);
  if (!Number.isInteger(retries) || retries < 1)
    throw new PolisError(
      `invalid value "${String(v["health-retries"])}" for flag --health-retries: a whole number of at least 1`,
    );
  const onFailure = String(v["health-on-failure"] ?? "none");
  if (!["none", "kill", "restart", "stop"].includes(onFailure))
    throw new PolisError(`invalid value "${onFailure}" for flag --health-on-failure: none, kill, restart or stop`);
  return {
    test: ownCmd || !base ? ["CMD-SHELL", cmd] : base.test,
    intervalMs: dur("health-interval", d.intervalMs, 1),
    timeoutMs: dur("health-timeout", d.timeoutMs, 1),
    retries,
    startPeriodMs: dur("health-start-period", d.startPeriodMs, 0),
    onFailure: onFailure as HealthConfig["onFailure"],
  };
}

/** "10m", "512k", "1g", "4096" (bytes), as docker's --log-opt max-size. */
export function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmg]?)i?b?$/i.exec(s.trim());
  if (!m) throw new PolisError(`invalid value "${s}" for flag --log-max-size: a size such as 10m, 512k or 4096`);
  const mult = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2].toLowerCase() as "" | "k" | "m" | "g"];
  return Math.floor(Number(m[1]) * mult);
}
