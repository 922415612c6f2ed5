// cgroup v2 io: BFQ weights when io.bfq.weight exists (same 10..1000 scale as v1), otherwise
// io.weight with runc's blkio -> io conversion; throttles go to io.max.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fieldError } from "../../errors.js";
import type { Resources, ThrottleDevice } from "../../spec/types.js";
import { writeCg } from "../fs.js";
import { int, requireFile, v1RangeToV2Weight } from "../values.js";

type BlockIO = NonNullable<Resources["blockIO"]>;
const F = "linux.resources.blockIO";

/** v1 blkio weight [10, 1000] -> v2 io.weight [1, 10000]. */
export function blkioWeightToIo(w: number): number {
  return v1RangeToV2Weight(w, 10, 1000);
}

export function applyIoV2(dir: string, b: BlockIO): void {
  if (b.leafWeight) throw fieldError(`${F}.leafWeight`, "leaf weights do not exist on cgroup v2");
  const bfq = existsSync(join(dir, "io.bfq.weight"));
  const weightOf = (field: string, w: unknown): string => {
    const n = int(field, w);
    if (n < 10 || n > 1000) throw fieldError(field, `must be between 10 and 1000, got ${n}`);
    return String(bfq ? n : blkioWeightToIo(n));
  };
  const file = bfq ? "io.bfq.weight" : "io.weight";
  if (b.weight) {
    requireFile(dir, file, `${F}.weight`);
    writeCg(dir, file, weightOf(`${F}.weight`, b.weight), `${F}.weight`);
  }
  (b.weightDevice ?? []).forEach((d, i) => {
    const f = `${F}.weightDevice[${i}]`;
    if (d.leafWeight) throw fieldError(`${f}.leafWeight`, "leaf weights do not exist on cgroup v2");
    if (!d.weight) return;
    requireFile(dir, file, `${f}.weight`);
    writeCg(dir, file, `${int(`${f}.major`, d.major)}:${int(`${f}.minor`, d.minor)} ${weightOf(`${f}.weight`, d.weight)}`, f);
  });
  const lines: [ThrottleDevice[] | undefined, string, string][] = [
    [b.throttleReadBpsDevice, "rbps", "throttleReadBpsDevice"],
    [b.throttleWriteBpsDevice, "wbps", "throttleWriteBpsDevice"],
    [b.throttleReadIOPSDevice, "riops", "throttleReadIOPSDevice"],
    [b.throttleWriteIOPSDevice, "wiops", "throttleWriteIOPSDevice"],
  ];
  for (const [list, key, name] of lines) {
    (list ?? []).forEach((t, i) => {
      const f = `${F}.${name}[${i}]`;
      const rate = int(`${f}.rate`, t.rate);
      writeCg(
        dir,
        "io.max",
        `${int(`${f}.major`, t.major)}:${int(`${f}.minor`, t.minor)} ${key}=${rate === 0 ? "max" : rate}`,
        f,
      );
    });
  }
}
