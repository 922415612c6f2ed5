// linux.resources -> cgroup files. Each resource goes to its v1 controller when that is mounted,
// otherwise to the cgroup2 tree when the controller is available there (hybrid hosts may have
// e.g. hugetlb only in cgroup2). Anything the host cannot enforce is an error naming the field.
import { fieldError } from "../errors.js";
import type { Resources } from "../spec/types.js";
import { applyHugetlb } from "./hugetlb.js";
import { applyRdma } from "./rdma.js";
import { applyBlkioV1 } from "./v1/blkio.js";
import { applyCpuV1 } from "./v1/cpu.js";
import { applyCpuset } from "./v1/cpuset.js";
import { applyDevicesV1 } from "./v1/devices.js";
import { applyMemoryV1 } from "./v1/memory.js";
import { applyNetCls, applyNetPrio } from "./v1/network.js";
import { applyPids } from "./v1/pids.js";
import { controllerAvailable, ensureControllers } from "./v2/controllers.js";
import { applyCpuV2 } from "./v2/cpu.js";
import { applyDevicesV2 } from "./v2/devices.js";
import { applyIoV2 } from "./v2/io.js";
import { applyMemoryV2 } from "./v2/memory.js";
import { applyUnified } from "./v2/unified.js";
import { hasAny } from "./values.js";

interface Target {
  dir: string;
  v2: boolean;
}

/** The first field of `o` that is set, for error messages ("linux.resources.cpu.quota"). */
function firstField(prefix: string, o: object, keys: string[]): string {
  const k = keys.find((key) => (o as Record<string, unknown>)[key] !== undefined);
  return k ? `${prefix}.${k}` : prefix;
}

export function applyResources(paths: Record<string, string>, r: Resources): void {
  const uni = paths.unified;
  const pick = (v1: string, v2: string | undefined, field: string): Target => {
    if (paths[v1]) return { dir: paths[v1], v2: false };
    if (v2 && uni && controllerAvailable(uni, v2)) {
      ensureControllers(uni, [v2], field);
      return { dir: uni, v2: true };
    }
    const pureV2 = Object.keys(paths).every((k) => k === "unified");
    if (pureV2 && v2) throw fieldError(field, `${v2} controller is not available in the cgroup2 tree`);
    throw fieldError(field, `${v1} controller is not mounted`);
  };

  const cpu = r.cpu ?? {};
  if (cpu.cpus || cpu.mems) {
    applyCpuset(pick("cpuset", "cpuset", `linux.resources.cpu.${cpu.cpus ? "cpus" : "mems"}`).dir, cpu);
  }
  if (r.devices && r.devices.length > 0) {
    if (paths.devices) applyDevicesV1(paths.devices, r.devices);
    // cgroup v2 (or a hybrid host without the v1 controller): an eBPF program on the cgroup2 dir
    else if (uni) applyDevicesV2(uni, r.devices);
    else throw fieldError("linux.resources.devices", "devices controller is not mounted");
  }
  if (hasAny(r.memory)) {
    const keys = ["limit", "reservation", "swap", "kernel", "kernelTCP", "swappiness", "disableOOMKiller", "useHierarchy"];
    const t = pick("memory", "memory", firstField("linux.resources.memory", r.memory!, keys));
    if (t.v2) applyMemoryV2(t.dir, r.memory!);
    else applyMemoryV1(t.dir, r.memory!);
  }
  const cpuKeys = ["shares", "quota", "period", "burst", "realtimeRuntime", "realtimePeriod", "idle"];
  if (cpuKeys.some((k) => (cpu as Record<string, unknown>)[k] !== undefined)) {
    const t = pick("cpu", "cpu", firstField("linux.resources.cpu", cpu, cpuKeys));
    if (t.v2) applyCpuV2(t.dir, cpu);
    else applyCpuV1(t.dir, cpu);
  }
  if (r.pids && r.pids.limit !== undefined) applyPids(pick("pids", "pids", "linux.resources.pids.limit").dir, r.pids);
  const b = r.blockIO;
  const setIo = Object.entries(b ?? {}).filter(([, v]) => v !== undefined && !(Array.isArray(v) && v.length === 0));
  if (b && setIo.length > 0) {
    const t = pick("blkio", "io", `linux.resources.blockIO.${setIo[0][0]}`);
    if (t.v2) applyIoV2(t.dir, b);
    else applyBlkioV1(t.dir, b);
  }
  if (r.hugepageLimits && r.hugepageLimits.length > 0) {
    const t = pick("hugetlb", "hugetlb", "linux.resources.hugepageLimits");
    applyHugetlb(t.dir, r.hugepageLimits, t.v2);
  }
  if (r.network?.classID !== undefined) {
    applyNetCls(pick("net_cls", undefined, "linux.resources.network.classID").dir, r.network);
  }
  if (r.network?.priorities && r.network.priorities.length > 0) {
    applyNetPrio(pick("net_prio", undefined, "linux.resources.network.priorities").dir, r.network);
  }
  if (r.rdma && Object.keys(r.rdma).length > 0) applyRdma(pick("rdma", "rdma", "linux.resources.rdma").dir, r.rdma);
  if (r.unified && Object.keys(r.unified).length > 0) {
    if (!uni) throw fieldError("linux.resources.unified", "there is no cgroup2 mount on this host");
    applyUnified(uni, r.unified);
  }
}
