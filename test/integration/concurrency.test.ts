// Concurrent invocations (containerd runs many at once) and a create killed at any moment.
import { spawn } from "node:child_process";
import { existsSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cgroupDirsNamed, POLIS, polis, tempRoot, uniqueId } from "../helpers/polis.js";
import { busyboxBundle } from "../helpers/rootfs.js";

const root = tempRoot();
const bundle = busyboxBundle();
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(bundle, { recursive: true, force: true });
});

function polisAsync(
  args: string[],
  killAfterMs?: number,
): Promise<{ code: number | null; signal: string | null; stderr: string }> {
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  return new Promise((resolve) => {
    const child = spawn(POLIS, ["--root", root, ...args], { env, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    if (killAfterMs !== undefined) setTimeout(() => child.kill("SIGKILL"), killAfterMs);
    child.on("exit", (code, signal) => resolve({ code, signal, stderr }));
  });
}

describe("concurrency", () => {
  it("20 concurrent creates and deletes on distinct ids all succeed", async () => {
    const ids = Array.from({ length: 20 }, () => uniqueId("conc"));
    const created = await Promise.all(ids.map((id) => polisAsync(["create", "--bundle", bundle, id])));
    for (const r of created) expect(r.code, r.stderr).toBe(0);
    const listed = polis(root, ["list", "-q"]).stdout.trim().split("\n");
    for (const id of ids) expect(listed).toContain(id);
    const deleted = await Promise.all(ids.map((id) => polisAsync(["delete", id])));
    for (const r of deleted) expect(r.code, r.stderr).toBe(0);
    expect(polis(root, ["list", "-q"]).stdout.trim()).toBe("");
  }, 120_000);

  it("two concurrent creates of one id: exactly one wins, the other fails cleanly", async () => {
    const id = uniqueId("race");
    const results = await Promise.all([
      polisAsync(["create", "--bundle", bundle, id]),
      polisAsync(["create", "--bundle", bundle, id]),
    ]);
    const codes = results.map((r) => r.code).sort();
    expect(codes).toEqual([0, 1]);
    expect(results.find((r) => r.code === 1)!.stderr).toContain("already exists");
    expect(JSON.parse(polis(root, ["state", id]).stdout).status).toBe("created");
    expect(polis(root, ["delete", id]).code).toBe(0);
    expect(cgroupDirsNamed(id)).toEqual([]);
  }, 60_000);

  it("a create killed with SIGKILL at any point is cleaned up by delete --force", async () => {
    for (const delay of [5, 40, 80, 120, 160, 200, 300]) {
      const id = uniqueId("sigkill");
      const r = await polisAsync(["create", "--bundle", bundle, id], delay);
      const del = polis(root, ["delete", "--force", id]);
      expect(del.code, `${delay}ms: ${del.stderr}`).toBe(0);
      expect(polis(root, ["state", id]).code, `${delay}ms (create ${r.signal ?? r.code})`).toBe(1);
      expect(existsSync(join(root, "containers", id))).toBe(false);
      // The cgroup may take a moment to empty after the kill.
      for (let i = 0; i < 50 && cgroupDirsNamed(id).length; i++) await new Promise((res) => setTimeout(res, 20));
      expect(cgroupDirsNamed(id)).toEqual([]);
    }
    expect(readdirSync(join(root, "containers"))).toEqual([]);
  }, 120_000);
});
