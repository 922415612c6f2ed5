// A preload for diagnosis runs of `polis monitor` (scripts/bench/monitor-rss.mjs --heap): on
// SIGUSR2 it writes the V8 heap's figures (MiB) before and after a full collection to
// heap-<pid>.json beside the bench's root (the directory of --root's parent), then goes on.
const v8 = require("node:v8");
const vm = require("node:vm");
const { writeFileSync } = require("node:fs");
const { dirname, join } = require("node:path");

const MiB = 1024 * 1024;
function figures() {
  const spaces = v8.getHeapSpaceStatistics();
  const old = spaces.find((s) => s.space_name === "old_space");
  const h = v8.getHeapStatistics();
  return {
    used: h.used_heap_size / MiB,
    physical: h.total_physical_size / MiB,
    oldUsed: old.space_used_size / MiB,
    oldPhysical: old.physical_space_size / MiB,
    external: h.external_memory / MiB,
  };
}

process.on("SIGUSR2", () => {
  const before = figures();
  v8.setFlagsFromString("--expose-gc");
  vm.runInNewContext("gc")();
  const after = figures();
  const root = process.argv[process.argv.indexOf("--root") + 1];
  writeFileSync(join(dirname(root), `heap-${process.pid}.json`), JSON.stringify({ before, after }));
});
