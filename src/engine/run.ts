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
import type { CliContext } from "../cli/context.js";
import type { CreateExtras } from "../container/create.js";
import type { GlobalOptions, RunOptions } from "../container/options.js";

/** The plain create/run options plus what each room took from the command line. */
export interface EngineOptions extends RunOptions {
  /** Arguments after the id (`run --image busybox c1 -- echo hi`). */
  args: string[];
}

/** Step 1: the bundle to create from (today: the --bundle given). */
async function bundleFor(_g: GlobalOptions, o: EngineOptions, _ctx: CliContext): Promise<string> {
  return o.bundle;
}

/** Step 3: what runs between the init's birth and `created` (today: nothing). */
function extrasFor(_g: GlobalOptions, _o: EngineOptions, _ctx: CliContext): CreateExtras {
  return {};
}

/** `polis create` with room flags. */
export async function engineCreate(g: GlobalOptions, o: EngineOptions, ctx: CliContext): Promise<void> {
  const bundle = await bundleFor(g, o, ctx);
  const { createContainer } = await import("../container/create.js");
  await createContainer(g, { ...o, bundle }, "detach", extrasFor(g, o, ctx));
}

/** `polis run` with room flags; resolves to the exit code as the plain `run` does. */
export async function engineRun(g: GlobalOptions, o: EngineOptions, ctx: CliContext): Promise<number> {
  const bundle = await bundleFor(g, o, ctx);
  const { runContainer } = await import("../container/run.js");
  return runContainer(g, { ...o, bundle }, extrasFor(g, o, ctx));
}
