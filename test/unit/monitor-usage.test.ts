import { describe, expect, it } from "vitest";
import { parseNetDev, type Sample } from "../../src/monitor/sample.js";
import { binarySize, decimalSize, statsRow, statsTable } from "../../src/monitor/usage.js";

const sample = (over: Partial<Sample>): Sample => ({
  id: "c1",
  atNs: 0n,
  cpuTotalNs: 0,
  cpuUserNs: 0,
  cpuSystemNs: 0,
  memUsage: 0,
  memWorkingSet: 0,
  memRss: 0,
  memCache: 0,
  memFailcnt: 0,
  memLimit: 1024,
  memLimited: true,
  net: undefined,
  blkRead: 0,
  blkWrite: 0,
  pids: 1,
  oomKills: 0,
  cfsPeriods: 0,
  cfsThrottledPeriods: 0,
  cfsThrottledNs: 0,
  ...over,
});

describe("stats arithmetic", () => {
  it("CPU % is CPU time over wall time, per one CPU (podman)", () => {
    const a = sample({ atNs: 1_000_000_000n, cpuTotalNs: 5e9 });
    const b = sample({ atNs: 3_000_000_000n, cpuTotalNs: 5e9 + 3e9 });
    expect(statsRow("n", a, b).cpuPercent).toBeCloseTo(150);
    expect(statsRow("n", undefined, b).cpuPercent).toBe(0);
  });
  it("memory % is the working set against the limit", () => {
    expect(statsRow("n", undefined, sample({ memWorkingSet: 256, memLimit: 1024 })).memPercent).toBe(25);
  });
  it("sizes print like docker's", () => {
    expect(binarySize(1536 * 1024)).toBe("1.5MiB");
    expect(binarySize(0)).toBe("0B");
    expect(decimalSize(1234)).toBe("1.234kB");
    expect(decimalSize(3_000_000)).toBe("3MB");
  });
  it("/proc/net/dev sums every interface but loopback", () => {
    const text = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0
  eth0:    2000      20    1    0    0     0          0         0     3000      30    2    0    0     0       0          0
  eth1:      10       1    0    0    0     0          0         0       20       2    0    0    0     0       0          0
`;
    expect(parseNetDev(text)).toEqual({ rxBytes: 2010, rxPackets: 21, rxErrors: 1, txBytes: 3020, txPackets: 32, txErrors: 2 });
  });
  it("a container without its own network namespace shows -- for NET I/O", () => {
    const t = statsTable([statsRow("web", undefined, sample({ id: "abcdefabcdefabcdef" }))]);
    expect(t.split("\n")[1]).toMatch(/^abcdefabcdef\s+web\s+0\.00%\s+0B \/ 1KiB\s+0\.00%\s+--\s+0B \/ 0B\s+1$/);
  });
});
