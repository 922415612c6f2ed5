// An image's Healthcheck (docker's config field) run by the container's monitor: `run -d --image`
// of an image with one is monitored for health without any --health-* flag, `polis inspect` shows
// the image's check turning healthy or unhealthy, --health-cmd replaces it and --no-healthcheck
// turns it off. Images are built here and pushed to a real registry (docker-registry) with skopeo.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hostPlatform } from "../../src/image/manifest.js";
import { Store } from "../../src/state/store.js";
import { until } from "../helpers/monitor.js";
import { OciLayout, push } from "../helpers/oci-layout.js";
import { polis, polisOk, tempRoot, uniqueId } from "../helpers/polis.js";
import { startRegistry, type TestRegistry } from "../helpers/registry.js";
import { baseRootfs } from "../helpers/rootfs.js";

const ARCH = hostPlatform().architecture;
const MS = 1e6; // the config's durations are nanoseconds
const work = mkdtempSync(join(tmpdir(), "polis-images-health-"));
const root = tempRoot();
let reg: TestRegistry;
const ref = (tag: string) => `${reg.host}/polis/health:${tag}`;

beforeAll(async () => {
  reg = await startRegistry();
  const layout = new OciLayout(join(work, "oci"));
  const base = join(work, "base.tar");
  execFileSync("tar", ["--numeric-owner", "--owner=0", "--group=0", "-C", baseRootfs(), "-cf", base, "."]);
  const layer = layout.layer(base, "gzip");
  const image = (tag: string, Healthcheck?: Record<string, unknown>) =>
    layout.image({
      layers: [layer],
      config: { Cmd: ["sleep", "1000"], ...(Healthcheck ? { Healthcheck } : {}) },
      arch: ARCH,
      tag,
    });
  image("good", { Test: ["CMD-SHELL", "test -x /bin/sh"], Interval: 300 * MS, Retries: 2 });
  image("bad", { Test: ["CMD", "false"], Interval: 300 * MS, Retries: 2 });
  image("none", { Test: ["NONE"] });
  image("plain");
  for (const tag of ["good", "bad", "none", "plain"]) {
    push(layout.dir, tag, `docker://${ref(tag)}`);
    polisOk(root, ["pull", "-q", "--tls-verify=false", ref(tag)]);
  }
}, 180_000);

afterAll(async () => {
  execFileSync("sh", ["-c", `grep -o " ${root}[^ ]*" /proc/mounts | xargs -r -n1 umount -l`]);
  rmSync(root, { recursive: true, force: true });
  await reg?.stop();
  rmSync(work, { recursive: true, force: true });
});

const inspect = (id: string) => JSON.parse(polisOk(root, ["inspect", id]).stdout)[0];
const health = (id: string) => inspect(id).State.Health;

describe("an image's Healthcheck", () => {
  it("run -d --image runs the image's check with no flag: the container turns healthy", async () => {
    const id = uniqueId("ih");
    polisOk(root, ["run", "-d", "--image", ref("good"), id]);
    try {
      const h = await until("healthy", () => (health(id)?.Status === "healthy" ? health(id) : undefined), 30_000);
      expect(h.Log.length).toBeGreaterThanOrEqual(1);
      expect(h.Log.every((r: { ExitCode: number }) => r.ExitCode === 0)).toBe(true);
      expect(inspect(id).State.Status).toBe("running");
    } finally {
      polis(root, ["delete", "--force", id]);
    }
  }, 60_000);

  it("a failing image check turns the container unhealthy after its Retries", async () => {
    const id = uniqueId("ib");
    polisOk(root, ["run", "-d", "--image", ref("bad"), id]);
    try {
      const h = await until("unhealthy", () => (health(id)?.Status === "unhealthy" ? health(id) : undefined), 30_000);
      expect(h.FailingStreak).toBeGreaterThanOrEqual(2);
      expect(h.Log.some((r: { ExitCode: number }) => r.ExitCode === 1)).toBe(true);
    } finally {
      polis(root, ["delete", "--force", id]);
    }
  }, 60_000);

  it("--health-cmd replaces the image's check; the image's interval stays", async () => {
    const id = uniqueId("io");
    polisOk(root, ["run", "-d", "--image", ref("bad"), "--health-cmd", "true", id]);
    try {
      const h = await until("healthy", () => (health(id)?.Status === "healthy" ? health(id) : undefined), 30_000);
      expect(h.FailingStreak).toBe(0);
      expect(inspect(id).Config.Healthcheck).toMatchObject({ Test: ["CMD-SHELL", "true"], IntervalMs: 300, Retries: 2 });
    } finally {
      polis(root, ["delete", "--force", id]);
    }
  }, 60_000);

  it('no check: an image without one, or with ["NONE"], has no health; a foreground run is not monitored', () => {
    for (const tag of ["plain", "none"]) {
      const id = uniqueId("in");
      polisOk(root, ["run", "-d", "--image", ref(tag), id]);
      try {
        expect(inspect(id).State.Health ?? null).toBeNull();
      } finally {
        polis(root, ["delete", "--force", id]);
      }
    }
    expect(polisOk(root, ["run", "--image", ref("good"), uniqueId("if"), "--", "echo", "hi"]).stdout).toBe("hi\n");
  }, 60_000);

  it("--no-healthcheck: the image's check is not run; with a --health-* flag it is an error, and nothing is made", () => {
    const id = uniqueId("ix");
    polisOk(root, ["run", "-d", "--image", ref("good"), "--no-healthcheck", id]);
    try {
      expect(inspect(id).State.Health ?? null).toBeNull();
      expect(inspect(id).State.Status).toBe("running");
    } finally {
      polis(root, ["delete", "--force", id]);
    }
    const bad = uniqueId("ix");
    const r = polis(root, ["run", "-d", "--image", ref("good"), "--no-healthcheck", "--health-cmd", "true", bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--no-healthcheck conflicts with --health-cmd/);
    expect(polis(root, ["state", bad]).code).not.toBe(0);
    expect(existsSync(join(root, "bundles", bad))).toBe(false);
  }, 60_000);

  it("a monitored run --image that fails at its monitor gives back the image bundle too: nothing left", () => {
    const missing = join(root, "no-such-dir", "c.log");
    for (const flags of [
      ["--log-path", missing],
      ["--logs", "--console-socket", join(root, "cs.sock")],
    ]) {
      const id = uniqueId("ibm");
      const r = polis(root, ["run", "-d", "--image", ref("good"), ...flags, id]);
      expect(r.code, flags.join(" ")).toBe(1);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toContain(flags[0] === "--log-path" ? `--log-path ${missing}` : "--console-socket cannot be used");
      expect(existsSync(join(root, "bundles", id))).toBe(false);
      expect(readFileSync("/proc/self/mountinfo", "utf8")).not.toContain(join(root, "bundles", id));
      expect(existsSync(join(root, "monitors", id))).toBe(false);
      const store = Store.open(root);
      try {
        expect({ container: store.get(id) ?? null, resources: store.resourcesOf(id) }).toEqual({
          container: null,
          resources: [],
        });
      } finally {
        store.close();
      }
    }
  }, 60_000);
});
