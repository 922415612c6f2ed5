// The monitor's step of `polis run|create` (src/engine/run.ts): create the container under its
// own monitor when --logs, --log-path or --health-* were given.
import type { CliContext } from "../cli/context.js";
import { pathOpt } from "../cli/context.js";
import type { CreateOptions, GlobalOptions } from "../container/options.js";
import { PolisError } from "../errors.js";
import { healthFromImage, MONITOR_FLAGS, monitorOptions, type ImageHealthcheck, type MonitorOptions } from "./options.js";

/**
 * The monitor options from the command line; undefined when no monitor flag was given. The
 * images room passes the image's Healthcheck: a detached container from such an image gets its
 * monitor and checks without a flag (a foreground one runs without them, as nothing would stay).
 */
export function monitorRequested(
  ctx: CliContext,
  detach: boolean,
  imageHealthcheck?: ImageHealthcheck,
): MonitorOptions | undefined {
  // --no-healthcheck (docker's): the image's check is not run, and no other may be asked for
  const noCheck = ctx.options["no-healthcheck"] === true;
  if (noCheck) {
    const health = MONITOR_FLAGS.find((f) => f.startsWith("health-") && ctx.given.has(f));
    if (health) throw new PolisError(`--no-healthcheck conflicts with --${health}`);
  }
  const image = noCheck ? null : healthFromImage(imageHealthcheck);
  const flagged = MONITOR_FLAGS.some((f) => ctx.given.has(f));
  if (!flagged && !(image && detach)) return undefined;
  if (!detach) {
    // A foreground run deletes its container anyway (unless --keep): --rm alone asks for nothing more.
    if (MONITOR_FLAGS.every((f) => f === "rm" || !ctx.given.has(f))) {
      if (ctx.options.keep === true) throw new PolisError("--rm and --keep contradict each other");
      return undefined;
    }
    throw new PolisError("--logs, --log-path and --health-* need --detach: the monitor stays with detached containers");
  }
  return monitorOptions(ctx.options, ctx.given, pathOpt(ctx, "log-path"), image);
}

/**
 * Create under the monitor. The monitor runs `polis create` itself; `createArgs` (the other
 * rooms' flags, e.g. --network) go on its command line, so that the create does their steps
 * (spec edits, attach after the init exists) in its own process, in the engine's order.
 */
export async function createMonitored(
  g: GlobalOptions,
  o: CreateOptions,
  m: MonitorOptions,
  createArgs: string[] = [],
): Promise<void> {
  const { createUnderMonitor } = await import("./spawn.js");
  await createUnderMonitor(g, o, { ...m, createArgs });
}
