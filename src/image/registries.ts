// The `registries` section of polis's config file (src/config/load.ts), per registry host:
//
//   registries:
//     docker.io:
//       mirrors: [mirror.example:5000]   # tried in order before the registry itself
//     localhost:5000:
//       insecure: true                   # plain HTTP allowed
//       ca: /etc/polis/certs/local.pem   # extra CA certificates (PEM) to trust for this registry

export interface RegistrySettings {
  mirrors: string[];
  insecure: boolean;
  ca: string[];
}

/** Per registry host; parsed from the config file by registries-config.ts. */
export type RegistriesConfig = Map<string, RegistrySettings>;

export function settingsFor(config: RegistriesConfig, host: string): RegistrySettings {
  return config.get(host) ?? { mirrors: [], insecure: false, ca: [] };
}
