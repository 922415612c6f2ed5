// `delete --force` of a container its monitor keeps restarting (--health-on-failure restart): the
// restart deletes the container and creates it again under a new monitor, and a delete coming in
// between used to find nothing, exit 0, and leave the restarted container (its processes, row
// and cgroups) behind. Checked from outside: cgroupfs, /proc, `polis state` and `polis list`.
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { runMonitored } from "../helpers/monitor.js";
import { cgroupDirsNamed, polis, polisOk, tempRoot } from "../helpers/polis.js";

const root = tempRoot();
afterAll(() => rmSync(root, { recursive: true, force: true }));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Processes whose cgroup or command line names `id` (a container's processes, its monitors). */
function processesOf(id: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync("/proc").filter((e) => /^\d+$/.test(e))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) continue;
      if (readFileSync(`/proc/${pid}/cgroup`, "utf8").includes(id) || cmd.includes(id)) found.push(`${pid} ${cmd}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

describe("delete --force during a restart loop", () => {
  // Each restart: a failed check every 300 ms, the back-off, delete, create, start; the deletes
  // land at different points of that cycle (under the old code most of them left a container).
  it("leaves nothing behind, wherever in the restart it lands, and nothing comes back", async () => {
    for (const afterMs of [500, 1100, 1700, 2300]) {
      const c = runMonitored(root, "sleep 1000", [
        "--logs",
        "--health-cmd",
        "false",
        "--health-interval",
        "300ms",
        "--health-retries",
        "1",
        "--health-on-failure",
        "restart",
      ]);
      await sleep(afterMs);
      c.remove(); // throws if the delete failed or left the cgroup
      // A restart that was under way when the delete came must not bring the container back.
      await sleep(3000);
      expect(polis(root, ["state", c.id]).stderr, `after ${afterMs} ms`).toContain("container does not exist");
      expect(polisOk(root, ["list", "-q"]).stdout).not.toContain(c.id);
      expect(cgroupDirsNamed(c.id), `after ${afterMs} ms`).toEqual([]);
      expect(processesOf(c.id), `after ${afterMs} ms`).toEqual([]);
    }
  }, 120_000);
});
