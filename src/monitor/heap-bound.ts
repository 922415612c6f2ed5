// `polis monitor` keeps its heap near what is live. Whatever a scrape still holds when V8 collects
// its young generation for the second time during it (the rows being listed, the samples, the
// text being written: ~30 KB a scrape of 30 containers, more with more) is promoted, and V8 lets
// the old generation grow 8 MiB past what its last full collection left before it collects
// again: under --optimize-for-size its collections are memory-reducing ones, and those set the
// next limit in V8's "minimal" mode, whose minimum step is the regular 8 MiB (the 2 MiB step is
// its conservative mode's). A monitor that serves for hours reaches that at any number of
// containers: +8 MiB of heap, ~+15 MiB of RSS (docs/performance.md). So after each request and
// each interval's work the monitor looks at its old generation, and collects it fully once it
// has grown `slackBytes` past what the last full collection left.
import { getHeapSpaceStatistics, setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

/** The old generation's objects, bytes: every space but the young one's. */
function oldGenerationBytes(): number {
  let used = 0;
  for (const s of getHeapSpaceStatistics()) if (!s.space_name.startsWith("new_")) used += s.space_used_size;
  return used;
}

let collectGarbage: (() => void) | undefined;

/** V8's full collection, without a start-up flag (which would make node reject its code cache). */
function fullCollection(): void {
  if (!collectGarbage) {
    const exposed = (globalThis as { gc?: () => void }).gc;
    if (exposed) return exposed();
    setFlagsFromString("--expose-gc");
    collectGarbage = runInNewContext("gc") as () => void;
  }
  collectGarbage();
}

export class HeapBound {
  /** What the old generation held after the last full collection (V8's or ours). */
  private floor = oldGenerationBytes();
  collections = 0;

  constructor(private readonly slackBytes: number) {}

  /** Collects fully if the old generation has grown past its floor by the slack. */
  check(): void {
    const used = oldGenerationBytes();
    if (used < this.floor) this.floor = used; // V8 collected on its own
    if (used < this.floor + this.slackBytes) return;
    fullCollection();
    this.collections++;
    this.floor = oldGenerationBytes();
  }
}
