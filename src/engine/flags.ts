// The `run`/`create` flags that belong to the rooms beside the runtime (images, networks,
// monitors). Any of them sends the command through src/engine/ instead of the plain runtime
// path; without them, `run` and `create` are exactly what containerd and podman rely on.
// Kept free of imports: the CLI reads it on every create and run. The rooms take their own lists
// from here.

/** src/network/ */
export const NETWORK_FLAGS = ["network", "ip", "alias", "publish"] as const;

/** src/monitor/ */
export const MONITOR_FLAGS = [
  "logs",
  "log-path",
  "log-max-size",
  "log-max-files",
  "health-cmd",
  "health-interval",
  "health-timeout",
  "health-retries",
  "health-start-period",
  "health-on-failure",
  "rm",
] as const;

export const ENGINE_FLAGS: readonly string[] = [
  "image", // src/image/
  "no-healthcheck", // src/image/ with src/monitor/: the image's Healthcheck left out
  ...NETWORK_FLAGS,
  ...MONITOR_FLAGS,
];
