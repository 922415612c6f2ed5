// `polis login` checks credentials before saving them: a token for the /v2/ ping's challenge
// (or Basic auth accepted by /v2/ itself).
import type { Credentials } from "./credentials.js";
import { apiHost } from "./reference.js";
import { settingsFor, type RegistriesConfig } from "./registries.js";
import { Registry } from "./registry.js";

export async function checkLogin(registry: string, creds: Credentials, config: RegistriesConfig, tlsVerify: boolean): Promise<void> {
  const r = new Registry({ name: registry, host: apiHost(registry), insecure: settingsFor(config, registry).insecure || !tlsVerify, credentials: creds });
  await r.checkCredentials();
}
