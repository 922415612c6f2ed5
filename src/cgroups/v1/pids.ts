// pids controller (same file in v1 and v2): a positive limit, or "max" for a negative one.
import type { Resources } from "../../spec/types.js";
import { writeCg } from "../fs.js";
import { int } from "../values.js";

export function applyPids(dir: string, p: NonNullable<Resources["pids"]>): void {
  const limit = int("linux.resources.pids.limit", p.limit);
  if (limit === 0) return; // runc: 0 means "not set"
  writeCg(dir, "pids.max", limit > 0 ? String(limit) : "max", "linux.resources.pids.limit");
}
