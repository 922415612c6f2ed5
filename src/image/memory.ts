// The pull's memory: TurboFan off from the first layer byte on, set at run time.
//
// TurboFan's own code is ~3.7 MiB of the node binary's pages: a busybox pull that compiles one
// hot function with it peaks 3.7 MiB higher than one that does not (issue 13: ≤ 50 MiB), and
// the layer's hot work is C++ (inflate, sha256, writes), so it runs no slower without it. The
// flag cannot go on node's command line: node then rejects the code cache of its own builtin
// modules (+10–20 ms per start). Set at run time it costs only the builtins loaded AFTER it
// (each compiles from source: node:zlib +7 ms), so it is set once everything the rest of the
// pull needs is loaded.
import { createRequire } from "node:module";
import { setFlagsFromString } from "node:v8";
import { debugEnabled, log } from "../log.js";

export const LAYER_V8_FLAGS = "--no-opt";
const load = createRequire(import.meta.url);

let set = false;
let wanted = true;

/**
 * For the build's warm-up pulls (src/main.ts warmUp "pull"): the code cache taken after them
 * carries the flags in force, and a cache made under --no-opt is rejected by every node started
 * without it, so the warm-up keeps V8's defaults.
 */
export function keepDefaultV8Flags(): void {
  wanted = false;
}

/** Before the first layer byte: loads what the unpacking needs, then sets LAYER_V8_FLAGS. */
export async function leanV8ForLayers(): Promise<void> {
  if (set || !wanted) return;
  set = true;
  await import("./unpack.js"); // node:zlib, node:stream, node:crypto: with their code caches
  load("node:child_process"); // polis-fetch's spawn (fetch-blob.ts)
  const before = builtinsLoaded();
  setFlagsFromString(LAYER_V8_FLAGS);
  if (!debugEnabled()) return;
  log.debug(`V8 ${LAYER_V8_FLAGS} from the first layer byte on (${before.size} node builtins loaded)`);
  // what came later compiled without its code cache: say which, for whoever adds a require
  process.once("exit", () => {
    const late = [...builtinsLoaded()].filter((m) => !before.has(m));
    log.debug(`node builtins loaded after ${LAYER_V8_FLAGS}: ${late.join(" ") || "none"}`);
  });
}

function builtinsLoaded(): Set<string> {
  const list = (process as unknown as { moduleLoadList: string[] }).moduleLoadList;
  return new Set(list.filter((m) => m.startsWith("NativeModule ")).map((m) => m.slice(13)));
}
