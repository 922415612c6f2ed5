// `polis stats` rows: two samples of one container turned into rates and percentages, the way
// podman and docker compute them, and the table/JSON renderings. Pure functions (unit-tested).
import type { Sample } from "./sample.js";

export interface StatsRow {
  id: string;
  name: string;
  /** Percent of one CPU over the interval (a busy loop ≈ 100; two of them ≈ 200), like podman. */
  cpuPercent: number;
  /** Cumulative CPU time, seconds. */
  cpuSeconds: number;
  memUsage: number;
  memLimit: number;
  memPercent: number;
  /** null: the container shares the host's network namespace. */
  netInput: number | null;
  netOutput: number | null;
  blockInput: number;
  blockOutput: number;
  pids: number;
}

export function statsRow(name: string, prev: Sample | undefined, cur: Sample): StatsRow {
  let cpuPercent = 0;
  if (prev) {
    const wall = Number(cur.atNs - prev.atNs);
    const used = cur.cpuTotalNs - prev.cpuTotalNs;
    if (wall > 0 && used > 0) cpuPercent = (used / wall) * 100;
  }
  return {
    id: cur.id,
    name,
    cpuPercent,
    cpuSeconds: cur.cpuTotalNs / 1e9,
    memUsage: cur.memWorkingSet,
    memLimit: cur.memLimit,
    memPercent: cur.memLimit > 0 ? (cur.memWorkingSet / cur.memLimit) * 100 : 0,
    netInput: cur.net ? cur.net.rxBytes : null,
    netOutput: cur.net ? cur.net.txBytes : null,
    blockInput: cur.blkRead,
    blockOutput: cur.blkWrite,
    pids: cur.pids,
  };
}

/** Binary units, as docker prints memory: "1.5MiB", "7.7GiB". */
export function binarySize(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${round(n)}${units[i]}`;
}

/** Decimal units, as docker prints network and block I/O: "1.2kB", "3MB". */
export function decimalSize(n: number): string {
  const units = ["B", "kB", "MB", "GB", "TB", "PB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${round(n)}${units[i]}`;
}

/** Up to 4 significant digits, trailing zeros dropped (Go's %.4g as docker's units use it). */
function round(n: number): string {
  return String(Number(n.toPrecision(4)));
}

const HEADER = ["ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O", "BLOCK I/O", "PIDS"];

export function statsTable(rows: StatsRow[]): string {
  const cells = [HEADER];
  for (const r of rows) {
    cells.push([
      r.id.length > 12 ? r.id.slice(0, 12) : r.id,
      r.name,
      `${r.cpuPercent.toFixed(2)}%`,
      `${binarySize(r.memUsage)} / ${binarySize(r.memLimit)}`,
      `${r.memPercent.toFixed(2)}%`,
      r.netInput === null ? "--" : `${decimalSize(r.netInput)} / ${decimalSize(r.netOutput ?? 0)}`,
      `${decimalSize(r.blockInput)} / ${decimalSize(r.blockOutput)}`,
      String(r.pids),
    ]);
  }
  const widths = HEADER.map((_, c) => Math.max(...cells.map((row) => row[c].length)));
  return cells
    .map((row) => row.map((cell, c) => (c < row.length - 1 ? cell.padEnd(widths[c] + 3) : cell)).join("") + "\n")
    .join("");
}

/** One JSON array per sample; numbers in base units (bytes, percent, seconds). */
export function statsJson(rows: StatsRow[]): string {
  return (
    JSON.stringify(
      rows.map((r) => ({
        id: r.id,
        name: r.name,
        cpu_percent: Number(r.cpuPercent.toFixed(2)),
        cpu_seconds: Number(r.cpuSeconds.toFixed(3)),
        mem_usage: r.memUsage,
        mem_limit: r.memLimit,
        mem_percent: Number(r.memPercent.toFixed(2)),
        net_input: r.netInput,
        net_output: r.netOutput,
        block_input: r.blockInput,
        block_output: r.blockOutput,
        pids: r.pids,
      })),
    ) + "\n"
  );
}
