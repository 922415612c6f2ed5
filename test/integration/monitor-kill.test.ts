// `polis run --detach --logs` SIGKILLed at various points: `delete --force ID` still leaves
// nothing behind (no monitor process, no monitor directory, no rows, no container).
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { POLIS, cgroupDirsNamed, polis, polisOk, tempRoot, uniqueId } from "../helpers/polis.js";
import { busyboxBundle } from "../helpers/rootfs.js";

const root = tempRoot();
const bundle = busyboxBundle();
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(bundle, { recursive: true, force: true });
});

/** Processes whose command line mentions `id` (monitors, inits are `sleep`, shims carry no id). */
function monitorsOf(dir: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync("/proc")) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const argv = readFileSync(`/proc/${p}/cmdline`, "utf8").split("\0");
      if (argv[0].endsWith("polis-monitor") && argv.includes(dir)) out.push(Number(p));
    } catch {
      // gone
    }
  }
  return out;
}

describe("polis killed half-way through a monitored create", () => {
  for (const delayMs of [20, 60, 100, 150, 250, 400]) {
    it(`SIGKILL after ${delayMs} ms, then delete --force: nothing left`, async () => {
      const id = uniqueId("kill");
      const env = { ...process.env };
      delete env.NODE_EXTRA_CA_CERTS;
      const child = spawn(POLIS, ["--root", root, "run", "--detach", "--logs", "--bundle", bundle, id], { env, stdio: "ignore" });
      const closed = new Promise((r) => child.on("close", r));
      await new Promise((r) => setTimeout(r, delayMs));
      child.kill("SIGKILL"); // a no-op if it finished already: then delete --force of a running container
      await closed;
      // As containerd does: delete --force, and once more if the first met a create still dying.
      const dir = join(root, "monitors", id);
      if (polis(root, ["delete", "--force", id]).code !== 0) await new Promise((r) => setTimeout(r, 300));
      polisOk(root, ["delete", "--force", id]);
      expect(monitorsOf(dir)).toEqual([]);
      expect(existsSync(dir)).toBe(false);
      expect(cgroupDirsNamed(id)).toEqual([]);
      expect(polis(root, ["state", id]).stderr).toContain("container does not exist");
      expect(polis(root, ["logs", id]).stderr).toContain("does not exist");
    });
  }
});
