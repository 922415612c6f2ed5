// v1-only network controllers: net_cls (classid) and net_prio (per-interface priorities).
import type { Resources } from "../../spec/types.js";
import { writeCg } from "../fs.js";
import { int } from "../values.js";

type Network = NonNullable<Resources["network"]>;

export function applyNetCls(dir: string, n: Network): void {
  if (n.classID !== undefined) {
    writeCg(dir, "net_cls.classid", String(int("linux.resources.network.classID", n.classID)), "linux.resources.network.classID");
  }
}

export function applyNetPrio(dir: string, n: Network): void {
  (n.priorities ?? []).forEach((p, i) => {
    const f = `linux.resources.network.priorities[${i}]`;
    writeCg(dir, "net_prio.ifpriomap", `${p.name} ${int(`${f}.priority`, p.priority)}`, f);
  });
}
