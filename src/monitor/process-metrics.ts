// The monitor's own process metrics (`polis_monitor_process_*`): Prometheus's standard process
// collector names and meanings, read from /proc/self at each scrape. Not prom-client's
// collectDefaultMetrics: that also registers its nodejs_* family (event-loop lag histograms, a GC
// PerformanceObserver, per-space heap statistics), which cost the long-running monitor 1.3-2.8
// MiB of peak RSS (README, Performance) and which nothing here promises.
import { readdirSync, readFileSync } from "node:fs";
import { Counter, Gauge, type Registry } from "prom-client";

/** Field `name` of /proc/self/status in bytes (the file gives kB); undefined when absent. */
function statusBytes(status: string, name: string): number | undefined {
  const m = new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status);
  return m ? Number(m[1]) * 1024 : undefined;
}

/** The soft "Max open files" of /proc/self/limits; undefined when unreadable or unlimited. */
function maxFds(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync("/proc/self/limits", "utf8"));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

export function registerProcessMetrics(registry: Registry, prefix: string): void {
  const registers = [registry];
  // a counter set to the process's total so far (reset, then advanced by it: prom-client has no set)
  const cpu = (name: string, help: string, micros: (u: NodeJS.CpuUsage) => number) =>
    new Counter({
      name: `${prefix}${name}`,
      help,
      registers,
      collect() {
        this.reset();
        this.inc(micros(process.cpuUsage()) / 1e6);
      },
    });
  cpu("process_cpu_user_seconds_total", "Total user CPU time spent in seconds.", (u) => u.user);
  cpu("process_cpu_system_seconds_total", "Total system CPU time spent in seconds.", (u) => u.system);
  cpu("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", (u) => u.user + u.system);
  const started = Math.round(Date.now() / 1000 - process.uptime());
  new Gauge({
    name: `${prefix}process_start_time_seconds`,
    help: "Start time of the process since unix epoch in seconds.",
    registers,
    collect() {
      this.set(started);
    },
  });
  let status = "";
  const memory = (name: string, help: string, field: string, first = false) =>
    new Gauge({
      name: `${prefix}${name}`,
      help,
      registers,
      collect() {
        if (first) {
          try {
            status = readFileSync("/proc/self/status", "utf8");
          } catch {
            status = "";
          }
        }
        const v = statusBytes(status, field);
        if (v !== undefined) this.set(v);
      },
    });
  memory("process_resident_memory_bytes", "Resident memory size in bytes.", "VmRSS", true);
  memory("process_virtual_memory_bytes", "Virtual memory size in bytes.", "VmSize");
  memory("process_heap_bytes", "Process heap size in bytes.", "VmData");
  new Gauge({
    name: `${prefix}process_open_fds`,
    help: "Number of open file descriptors.",
    registers,
    collect() {
      try {
        this.set(readdirSync("/proc/self/fd").length - 1); // less the one reading the directory
      } catch {
        // no /proc: no sample
      }
    },
  });
  const max = maxFds();
  if (max !== undefined)
    new Gauge({
      name: `${prefix}process_max_fds`,
      help: "Maximum number of open file descriptors.",
      registers,
      collect() {
        this.set(max);
      },
    });
}
