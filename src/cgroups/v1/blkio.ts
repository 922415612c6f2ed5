// v1 blkio. Kernels without CFQ (all current ones) only offer BFQ weights (blkio.bfq.*),
// and only for devices using the bfq scheduler; throttling works with any scheduler.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fieldError } from "../../errors.js";
import type { Resources, ThrottleDevice } from "../../spec/types.js";
import { writeCg } from "../fs.js";
import { int } from "../values.js";

type BlockIO = NonNullable<Resources["blockIO"]>;
const F = "linux.resources.blockIO";

function weightFile(dir: string): { weight?: string; device?: string; leaf?: string; leafDevice?: string } {
  if (existsSync(join(dir, "blkio.weight"))) {
    return {
      weight: "blkio.weight",
      device: "blkio.weight_device",
      leaf: existsSync(join(dir, "blkio.leaf_weight")) ? "blkio.leaf_weight" : undefined,
      leafDevice: existsSync(join(dir, "blkio.leaf_weight_device")) ? "blkio.leaf_weight_device" : undefined,
    };
  }
  if (existsSync(join(dir, "blkio.bfq.weight"))) return { weight: "blkio.bfq.weight", device: "blkio.bfq.weight_device" };
  return {};
}

function checkWeight(field: string, w: unknown): number {
  const n = int(field, w);
  if (n < 10 || n > 1000) throw fieldError(field, `must be between 10 and 1000, got ${n}`);
  return n;
}

export function applyBlkioV1(dir: string, b: BlockIO): void {
  const files = weightFile(dir);
  const noWeights = "no blkio weight files (neither CFQ nor BFQ weights are available)";
  if (b.weight !== undefined && b.weight !== 0) {
    if (!files.weight) throw fieldError(`${F}.weight`, noWeights);
    writeCg(dir, files.weight, String(checkWeight(`${F}.weight`, b.weight)), `${F}.weight`);
  }
  if (b.leafWeight !== undefined && b.leafWeight !== 0) {
    if (!files.leaf)
      throw fieldError(`${F}.leafWeight`, "not supported by this kernel (no blkio.leaf_weight; BFQ has no leaf weights)");
    writeCg(dir, files.leaf, String(checkWeight(`${F}.leafWeight`, b.leafWeight)), `${F}.leafWeight`);
  }
  (b.weightDevice ?? []).forEach((d, i) => {
    const f = `${F}.weightDevice[${i}]`;
    const dev = `${int(`${f}.major`, d.major)}:${int(`${f}.minor`, d.minor)}`;
    if (d.weight !== undefined && d.weight !== 0) {
      if (!files.device) throw fieldError(`${f}.weight`, noWeights);
      writeCg(dir, files.device, `${dev} ${checkWeight(`${f}.weight`, d.weight)}`, `${f}.weight`);
    }
    if (d.leafWeight !== undefined && d.leafWeight !== 0) {
      if (!files.leafDevice) throw fieldError(`${f}.leafWeight`, "not supported by this kernel (no blkio.leaf_weight_device)");
      writeCg(dir, files.leafDevice, `${dev} ${checkWeight(`${f}.leafWeight`, d.leafWeight)}`, `${f}.leafWeight`);
    }
  });
  throttle(dir, b.throttleReadBpsDevice, "blkio.throttle.read_bps_device", `${F}.throttleReadBpsDevice`);
  throttle(dir, b.throttleWriteBpsDevice, "blkio.throttle.write_bps_device", `${F}.throttleWriteBpsDevice`);
  throttle(dir, b.throttleReadIOPSDevice, "blkio.throttle.read_iops_device", `${F}.throttleReadIOPSDevice`);
  throttle(dir, b.throttleWriteIOPSDevice, "blkio.throttle.write_iops_device", `${F}.throttleWriteIOPSDevice`);
}

function throttle(dir: string, list: ThrottleDevice[] | undefined, file: string, field: string): void {
  (list ?? []).forEach((t, i) => {
    const f = `${field}[${i}]`;
    writeCg(dir, file, `${int(`${f}.major`, t.major)}:${int(`${f}.minor`, t.minor)} ${int(`${f}.rate`, t.rate)}`, f);
  });
}
