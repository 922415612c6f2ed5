// The release seam's `network` releaser (src/resources/release.ts): what `delete` (also --force,
// also after a reboot or a polis killed mid-attach) calls for each network the container was on.
// Idempotent: detach does whatever is still to do (CNI DEL, addresses, ports, rules, names);
// the `lo` row gets its loopback DEL.
import type { GlobalOptions } from "../container/options.js";
import { log } from "../log.js";
import type { Store } from "../state/store.js";
import type { ResourceRow } from "../state/types.js";
import { releaseRow } from "./attach.js";
import { networkSettings, type NetworkSettings } from "./config.js";
import { loadNetworkSettings } from "./settings.js";

export async function release(g: GlobalOptions, store: Store, row: ResourceRow): Promise<void> {
  await releaseRow(g.root, store, settingsForRelease(g), row.containerId, row);
}

/** A config file broken since the attach must not make the container undeletable: defaults then. */
function settingsForRelease(g: GlobalOptions): NetworkSettings {
  try {
    return loadNetworkSettings(g);
  } catch (e) {
    log.warn(`${(e as Error).message}: releasing with the default network settings`);
    return networkSettings(undefined);
  }
}
