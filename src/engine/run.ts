// `polis run|create` for people driving polis themselves: the runtime's create and start, with
// the rooms beside it doing their part in a fixed order:
//
//   1. image    -> the bundle to create from               (src/image/,   --image)
//   2. create   -> the core, or under the container's monitor (src/monitor/, --logs, --health-*)
//   3. network  -> attach once the init's namespaces exist  (src/network/, --network, -p)
//   4. start, and in the foreground wait and delete          (the core)
//
// Each room records what delete must give back through the release seam
// (src/container/resources.ts), so a failure at any step, or a polis killed half-way, is undone by
// the same cleanup as any failed create or `delete --force`.
import { absPath, type CliContext } from "../cli/context.js";
import type { CreateExtras } from "../container/create.js";
import type { GlobalOptions, RunOptions } from "../container/options.js";
import { createMonitored, monitorRequested } from "../monitor/engine.js";
import type { ImageHealthcheck } from "../monitor/options.js";
import { phase } from "../timing.js";

/** The plain create/run options plus what each room took from the command line. */
export interface EngineOptions extends RunOptions {
  /** Arguments after the id (`run --image busybox c1 -- echo hi`). */
  args: string[];
}

/** What the images room made (the bundle directory), to undo if the create fails before the core owns it. */
interface Made {
  imageBundle?: string;
}

/**
 * Step 1: the bundle to create from: made from --image, else the --bundle given. `ephemeral`: the
 * container goes when this foreground run ends (its overlay may live in its own mount namespace).
 */
async function bundleFor(g: GlobalOptions, o: EngineOptions, ctx: CliContext, made: Made, ephemeral = false): Promise<string> {
  const image = ctx.options.image;
  if (typeof image !== "string" || image === "") return o.bundle;
  const { imageBundle } = await import("../image/engine.js");
  phase("image module load");
  const dir = typeof ctx.options["bundle-dir"] === "string" ? absPath(ctx, ctx.options["bundle-dir"]) : undefined;
  made.imageBundle = await imageBundle(g, o.id, image, dir, o.args, ephemeral);
  phase("image bundle");
  return made.imageBundle;
}

/** The image's Healthcheck (--image only): a detached container from it is monitored for health. */
async function imageHealth(g: GlobalOptions, ctx: CliContext): Promise<ImageHealthcheck | undefined> {
  const image = ctx.options.image;
  if (typeof image !== "string" || image === "") return undefined;
  const health = await (await import("../image/engine.js")).imageHealthcheck(g, image);
  phase("image healthcheck");
  return health;
}

/** A create that failed before the container row existed: give back what step 1 made. */
async function undo(g: GlobalOptions, o: EngineOptions, made: Made): Promise<void> {
  if (made.imageBundle) await (await import("../image/engine.js")).dropImageBundle(g, o.id, made.imageBundle);
}

/**
 * What the rooms add to a create, and `undo`: takes back what they made before the create when it
 * fails before its container row exists (after that, the create's own cleanup releases it).
 */
type EngineExtras = CreateExtras & { undo?: () => Promise<void> };

/** Step 3: what runs between the init's birth and `created`: the network attach. */
async function extrasFor(g: GlobalOptions, o: EngineOptions, ctx: CliContext): Promise<EngineExtras> {
  return networkStep(g, o, ctx);
}

/** --network/--ip/--alias/-p: the spec edit (netns, /etc/hosts) and the attach (src/network/). */
async function networkStep(g: GlobalOptions, o: EngineOptions, ctx: CliContext): Promise<EngineExtras> {
  if (!["network", "ip", "alias", "publish"].some((f) => ctx.given.has(f))) return {};
  const { prepareNetwork } = await import("../network/engine.js");
  const list = (name: string) => (Array.isArray(ctx.options[name]) ? (ctx.options[name] as string[]) : []);
  const network = typeof ctx.options.network === "string" ? ctx.options.network : undefined;
  return prepareNetwork(g, o.id, { network, ips: list("ip"), aliases: list("alias"), publish: list("publish") });
}

/** The network flags as given, for a create that runs in another process (under the monitor). */
function networkArgs(ctx: CliContext): string[] {
  const args: string[] = [];
  if (typeof ctx.options.network === "string" && ctx.given.has("network")) args.push("--network", ctx.options.network);
  for (const flag of ["ip", "alias", "publish"]) {
    for (const v of Array.isArray(ctx.options[flag]) ? (ctx.options[flag] as string[]) : []) args.push(`--${flag}`, v);
  }
  return args;
}

/** `polis create` with room flags. */
export async function engineCreate(g: GlobalOptions, o: EngineOptions, ctx: CliContext): Promise<void> {
  const monitor = monitorRequested(ctx, true, await imageHealth(g, ctx));
  const made: Made = {};
  const bundle = await bundleFor(g, o, ctx, made);
  // Under the monitor the create runs in a process of its own: the network flags go with it.
  if (monitor) {
    try {
      return await createMonitored(g, { ...o, bundle }, monitor, networkArgs(ctx));
    } catch (e) {
      await undo(g, o, made);
      throw e;
    }
  }
  const { createContainer } = await import("../container/create.js");
  let extras: EngineExtras = {};
  try {
    extras = await extrasFor(g, o, ctx);
    await createContainer(g, { ...o, bundle }, "detach", extras);
  } catch (e) {
    try {
      await extras.undo?.();
    } finally {
      await undo(g, o, made);
    }
    throw e;
  }
}

/** `polis run` with room flags; resolves to the exit code as the plain `run` does. */
export async function engineRun(g: GlobalOptions, o: EngineOptions, ctx: CliContext): Promise<number> {
  const monitor = monitorRequested(ctx, o.detach, await imageHealth(g, ctx));
  const made: Made = {};
  const bundle = await bundleFor(g, o, ctx, made, !monitor && !o.detach && !o.keep);
  if (monitor) {
    // Step 2 under the container's monitor (src/monitor/), then start; the monitor waits for it.
    try {
      await createMonitored(g, { ...o, bundle }, monitor, networkArgs(ctx));
    } catch (e) {
      await undo(g, o, made);
      throw e;
    }
    const { startContainer } = await import("../container/start.js");
    await startContainer(g, o.id);
    return 0;
  }
  const { runContainer } = await import("../container/run.js");
  let extras: EngineExtras = {};
  try {
    extras = await extrasFor(g, o, ctx);
    return await runContainer(g, { ...o, bundle }, extras);
  } catch (e) {
    try {
      await extras.undo?.();
    } finally {
      await undo(g, o, made);
    }
    throw e;
  }
}
