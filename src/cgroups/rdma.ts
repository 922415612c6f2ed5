// rdma controller (same rdma.max syntax in v1 and v2): "<device> hca_handle=N hca_object=M".
import type { Resources } from "../spec/types.js";
import { writeCg } from "./fs.js";
import { int } from "./values.js";

export function applyRdma(dir: string, rdma: NonNullable<Resources["rdma"]>): void {
  for (const [dev, lim] of Object.entries(rdma)) {
    const f = `linux.resources.rdma.${dev}`;
    const parts = [dev];
    if (lim.hcaHandles !== undefined) parts.push(`hca_handle=${int(`${f}.hcaHandles`, lim.hcaHandles)}`);
    if (lim.hcaObjects !== undefined) parts.push(`hca_object=${int(`${f}.hcaObjects`, lim.hcaObjects)}`);
    if (parts.length > 1) writeCg(dir, "rdma.max", parts.join(" "), f);
  }
}
