// hugetlb limits: v1 hugetlb.<size>.limit_in_bytes, v2 hugetlb.<size>.max (same size spelling).
import type { Resources } from "../spec/types.js";
import { writeCg } from "./fs.js";
import { int, pageSizeOk, requireFile } from "./values.js";
import { fieldError } from "../errors.js";

export function applyHugetlb(dir: string, limits: NonNullable<Resources["hugepageLimits"]>, v2: boolean): void {
  limits.forEach((h, i) => {
    const f = `linux.resources.hugepageLimits[${i}]`;
    if (typeof h.pageSize !== "string" || !pageSizeOk(h.pageSize)) {
      throw fieldError(`${f}.pageSize`, `must look like "2MB" or "1GB", got ${JSON.stringify(h.pageSize)}`);
    }
    const file = `hugetlb.${h.pageSize}.${v2 ? "max" : "limit_in_bytes"}`;
    requireFile(dir, file, `${f}.pageSize`, `${h.pageSize} is not a huge page size this kernel supports (no ${file})`);
    writeCg(dir, file, String(int(`${f}.limit`, h.limit)), `${f}.limit`);
  });
}
