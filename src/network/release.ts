// The release seam's `network` releaser (src/resources/release.ts): what `delete` (also --force,
// also after a reboot or a polis killed mid-attach) calls for each network the container was on.
// Idempotent: detach does whatever is still to do (CNI DEL, addresses, ports, rules, names).
import type { GlobalOptions } from "../container/options.js";
import type { Store } from "../state/store.js";
import type { ResourceRow } from "../state/types.js";
import { detach } from "./attach.js";
import { loadNetworkSettings } from "./settings.js";

export async function release(g: GlobalOptions, store: Store, row: ResourceRow): Promise<void> {
  const settings = loadNetworkSettings(g);
  await detach(g.root, store, settings, row.containerId, row.name);
}
