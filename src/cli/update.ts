// `polis update [--resources FILE|-] [--memory 64m ...] <id>`: podman passes a JSON file; the
// flags are runc's. Only what is given changes; the library merges it into the live config.
import { readFileSync } from "node:fs";
import { PolisError } from "../errors.js";
import type { Resources } from "../spec/types.js";
import { absPath, num, str, type CliContext } from "./context.js";

export async function run(ctx: CliContext): Promise<void> {
  const resources = resourcesFrom(ctx);
  const { updateContainer } = await import("../container/update.js");
  await updateContainer(ctx.global, { id: ctx.args[0], resources });
}

export function resourcesFrom(ctx: CliContext): Resources {
  const file = str(ctx, "resources");
  if (file !== undefined && file !== "") return readResources(file === "-" ? 0 : absPath(ctx, file), file);
  return resourcesFromFlags(ctx);
}

function readResources(src: string | number, shown: string): Resources {
  let text: string;
  try {
    text = readFileSync(src, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new PolisError(`--resources: read ${shown}: ${code ?? (e as Error).message}`, { step: "read resources", errno: code });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new PolisError(`--resources: ${shown}: invalid JSON: ${(e as Error).message}`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new PolisError(`--resources: ${shown}: must be a JSON object`);
  }
  return parsed as Resources;
}

export function resourcesFromFlags(ctx: CliContext): Resources {
  const r: Resources = {};
  const given = (name: string) => {
    const v = str(ctx, name);
    return v === undefined || v === "" ? undefined : v;
  };
  const cpu: NonNullable<Resources["cpu"]> = {};
  const setCpu = (flag: string, key: "period" | "quota" | "shares" | "realtimePeriod" | "realtimeRuntime", signed: boolean) => {
    const v = given(flag);
    if (v !== undefined) cpu[key] = parseIntFlag(flag, v, signed);
  };
  setCpu("cpu-period", "period", false);
  setCpu("cpu-quota", "quota", true);
  setCpu("cpu-share", "shares", false);
  setCpu("cpu-rt-period", "realtimePeriod", false);
  setCpu("cpu-rt-runtime", "realtimeRuntime", true);
  if (given("cpuset-cpus") !== undefined) cpu.cpus = given("cpuset-cpus");
  if (given("cpuset-mems") !== undefined) cpu.mems = given("cpuset-mems");
  if (Object.keys(cpu).length) r.cpu = cpu;

  const memory: NonNullable<Resources["memory"]> = {};
  const setMem = (flag: string, key: "limit" | "reservation" | "swap") => {
    const v = given(flag);
    if (v !== undefined) memory[key] = v === "-1" ? -1 : parseBytes(flag, v);
  };
  setMem("memory", "limit");
  setMem("memory-reservation", "reservation");
  setMem("memory-swap", "swap");
  if (Object.keys(memory).length) r.memory = memory;

  if (ctx.given.has("blkio-weight")) {
    const w = num(ctx, "blkio-weight");
    if (w < 0 || w > 0xffff) throw new PolisError(`invalid value for blkio-weight: ${w}`);
    r.blockIO = { weight: w };
  }
  if (ctx.given.has("pids-limit")) r.pids = { limit: num(ctx, "pids-limit") };
  if (given("l3-cache-schema") !== undefined || given("mem-bw-schema") !== undefined) {
    throw new PolisError("--l3-cache-schema and --mem-bw-schema: Intel RDT is not supported");
  }
  return r;
}

function parseIntFlag(flag: string, v: string, signed: boolean): number {
  const ok = signed ? /^[+-]?\d+$/ : /^\+?\d+$/;
  const n = Number(v);
  if (!ok.test(v) || !Number.isSafeInteger(n)) throw new PolisError(`invalid value for ${flag}: ${JSON.stringify(v)}`);
  return n;
}

const UNITS: Record<string, number> = { "": 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40, p: 2 ** 50 };

/** Bytes with docker's binary suffixes: "67108864", "64m", "64MiB", "1.5g". */
export function parseBytes(flag: string, v: string): number {
  const m = /^(\d+(?:\.\d+)?) ?([kmgtp]?)(?:i?b)?$/i.exec(v);
  if (!m) throw new PolisError(`invalid value for ${flag}: invalid size: ${JSON.stringify(v)}`);
  return Math.floor(Number(m[1]) * UNITS[m[2].toLowerCase()]);
}
