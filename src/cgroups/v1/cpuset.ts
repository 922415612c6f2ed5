// cpuset (v1 and v2 use the same file names and list syntax).
import type { Resources } from "../../spec/types.js";
import { writeCg } from "../fs.js";

type Cpu = NonNullable<Resources["cpu"]>;

export function applyCpuset(dir: string, c: Cpu): void {
  if (c.cpus) writeCg(dir, "cpuset.cpus", c.cpus, "linux.resources.cpu.cpus");
  if (c.mems) writeCg(dir, "cpuset.mems", c.mems, "linux.resources.cpu.mems");
}
