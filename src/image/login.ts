// `polis login` checks credentials before saving them: a token for the /v2/ ping's challenge
// (or Basic auth accepted by /v2/ itself).
import type { Credentials } from "./credentials.js";
import { apiHost } from "./reference.js";
import { settingsFor, type RegistriesConfig } from "./registries.js";
import { Registry } from "./registry.js";
import { tlsFor } from "./pull.js";

export async function checkLogin(
  registry: string,
  creds: Credentials,
  config: RegistriesConfig,
  tlsVerify: boolean,
): Promise<void> {
  const s = settingsFor(config, registry);
  const r = new Registry({
    name: registry,
    host: apiHost(registry),
    insecure: s.insecure || !tlsVerify,
    credentials: creds,
    tls: tlsFor(s, tlsVerify),
  });
  try {
    await r.checkCredentials();
  } finally {
    r.close();
  }
}
