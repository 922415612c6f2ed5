// The `run`/`create` flags that belong to the rooms beside the runtime (images, networks,
// monitors). Any of them sends the command through src/engine/ instead of the plain runtime
// path; without them, `run` and `create` are exactly what containerd and podman rely on.
// Kept free of imports: the CLI reads it on every create and run.
export const ENGINE_FLAGS: readonly string[] = [
  // images: src/image/
  "image",
  // networks: src/network/ (NETWORK_FLAGS in src/network/engine.ts)
  "network",
  "ip",
  "alias",
  "publish",
  // monitor: src/monitor/ (src/monitor/options.ts MONITOR_FLAGS)
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
];
