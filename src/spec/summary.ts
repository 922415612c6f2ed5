// --debug: the validated config.json in one line of fields, the facts one checks first when a
// container does not come up as expected (what runs, as whom, in which namespaces, with which
// mounts, limits, filter and hooks). Built only when debug logging is on.
import type { Spec } from "./types.js";

export function configSummary(spec: Spec): Record<string, unknown> {
  const p = spec.process;
  const linux = spec.linux ?? {};
  const out: Record<string, unknown> = {};
  if (p) {
    out.args = p.args?.join(" ");
    out.cwd = p.cwd;
    out.user = `${p.user?.uid ?? 0}:${p.user?.gid ?? 0}${p.user?.additionalGids?.length ? `+${p.user.additionalGids.join(",")}` : ""}`;
    out.terminal = Boolean(p.terminal);
    out.noNewPrivileges = Boolean(p.noNewPrivileges);
    if (p.capabilities)
      out.capabilities = `bounding=${p.capabilities.bounding?.length ?? 0} effective=${p.capabilities.effective?.length ?? 0}`;
    out.env = p.env?.length ?? 0;
  }
  out.root = `${spec.root?.path ?? ""}${spec.root?.readonly ? " (ro)" : ""}`;
  out.namespaces =
    (linux.namespaces ?? []).map((n) => (n.path ? `${n.type}=${n.path}` : n.type)).join(",") || "none (all inherited)";
  out.mounts = (spec.mounts ?? []).map((m) => `${m.destination}(${m.type ?? "bind"})`).join(" ");
  if (linux.devices?.length) out.devices = linux.devices.map((d) => d.path).join(" ");
  if (linux.cgroupsPath) out.cgroupsPath = linux.cgroupsPath;
  const res = linux.resources;
  if (res) out.resources = Object.keys(res).join(",");
  if (linux.seccomp) {
    const rules = (linux.seccomp.syscalls ?? []).reduce((n, r) => n + (r.names?.length ?? 0), 0);
    out.seccomp = `${linux.seccomp.defaultAction} with ${rules} syscall rules${linux.seccomp.listenerPath ? ` agent=${linux.seccomp.listenerPath}` : ""}`;
  }
  const hooks = Object.entries(spec.hooks ?? {})
    .filter(([, list]) => Array.isArray(list) && list.length)
    .map(([name, list]) => `${name}=${(list as unknown[]).length}`);
  if (hooks.length) out.hooks = hooks.join(",");
  if (spec.hostname) out.hostname = spec.hostname;
  if (linux.sysctl && Object.keys(linux.sysctl).length) out.sysctl = Object.keys(linux.sysctl).join(",");
  return out;
}
