// `polis pull`'s progress, from outside: on a terminal (a real pty from python3) one row per layer
// with its digest, bytes and total, rewritten in place and left with its final word; off a
// terminal the plain lines, no escape codes; -q only the digest. Against a real registry.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hostPlatform } from "../../src/image/manifest.js";
import { mb } from "../../src/image/pull.js";
import { OciLayout, push, type Desc } from "../helpers/oci-layout.js";
import { polisOk, POLIS, tempRoot } from "../helpers/polis.js";
import { startRegistry, type TestRegistry } from "../helpers/registry.js";
import { PTY_HARNESS, screen } from "../helpers/terminal.js";
import { writeTar } from "../helpers/tarball.js";

const work = mkdtempSync(join(tmpdir(), "polis-pull-progress-"));
const roots: string[] = [];
let reg: TestRegistry;
let manifestDigest: string;
let layers: Desc[];
let configDigest: string;
const REF = () => `${reg.host}/polis/progress:1`;

beforeAll(async () => {
  reg = await startRegistry();
  const layout = new OciLayout(join(work, "oci"));
  execFileSync("sh", [
    "-c",
    `mkdir ${work}/big && head -c ${12 << 20} /dev/urandom > ${work}/big/random && tar -cf ${work}/big.tar -C ${work}/big .`,
  ]);
  const big = layout.layer(join(work, "big.tar"), "none");
  const small = layout.layer(writeTar(join(work, "small.tar"), [{ name: "hello", data: "hello\n" }]), "gzip");
  layout.image({ layers: [big, small], config: { Cmd: ["true"] }, arch: hostPlatform().architecture, tag: "p" });
  push(layout.dir, "p", `docker://${REF()}`);
  // what the registry serves (skopeo may rewrite the manifest on the way, e.g. compress a layer)
  const raw = execFileSync("skopeo", ["inspect", "--raw", "--tls-verify=false", `docker://${REF()}`]);
  const served = JSON.parse(raw.toString("utf8"));
  manifestDigest = `sha256:${createHash("sha256").update(raw).digest("hex")}`;
  configDigest = served.config.digest;
  layers = served.layers;
}, 120_000);

afterAll(async () => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
  await reg?.stop();
  rmSync(work, { recursive: true, force: true });
});

const root = () => {
  const r = tempRoot();
  roots.push(r);
  return r;
};
const short = (d: Desc) => d.digest.slice(7, 19);

function pullOnPty(r: string, extra: string[] = []): { out: string; code: number | null } {
  const script = join(work, "pty.py");
  writeFileSync(script, PTY_HARNESS);
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  const argv = [POLIS, "--root", r, "pull", "--tls-verify=false", ...extra, REF()];
  return JSON.parse(
    execFileSync("python3", [script, JSON.stringify({ argv, rows: 24, cols: 120, timeout: 60 })], {
      env,
      encoding: "utf8",
      timeout: 90_000,
    }),
  );
}

describe("pull progress", () => {
  it("on a TTY: a row per layer with digest, bytes / total and rate, updated in place, ending in its final word", () => {
    const { out, code } = pullOnPty(root());
    expect(code).toBe(0);
    // while it downloads, the big layer's row shows bytes so far of its total
    const total = mb(layers[0].size).replace(".", "\\.");
    expect(out).toMatch(new RegExp(`Copying blob ${short(layers[0])} \\[[=> ]{20}\\] [0-9.]+[kMG]?B / ${total}`));
    expect(out).toMatch(/\x1b\[\d+A/); // rows redrawn in place
    const shown = screen(out);
    expect(shown[0]).toBe(`Copying config ${configDigest.slice(7, 19)} done`);
    expect(shown.slice(1, 3).sort()).toEqual(
      [
        `Copying blob ${short(layers[0])} done ${mb(layers[0].size)}`,
        `Copying blob ${short(layers[1])} done ${mb(layers[1].size)}`,
      ].sort(),
    );
    expect(shown.slice(3)).toEqual([`Pulled ${REF()}`, manifestDigest]);
  }, 120_000);

  it("-q on a TTY prints only the digest", () => {
    const { out, code } = pullOnPty(root(), ["-q"]);
    expect(code).toBe(0);
    expect(out).toBe(`${manifestDigest}\r\n`);
  }, 120_000);

  it("off a TTY the plain lines stay as they were: one per step, no escape codes", () => {
    const res = polisOk(root(), ["pull", "--tls-verify=false", REF()]);
    expect(res.stdout).toBe(`${manifestDigest}\n`);
    expect(res.stderr).not.toMatch(/\x1b/);
    const lines = res.stderr.trimEnd().split("\n");
    expect(lines[0]).toBe(`Copying config ${configDigest.slice(7, 19)} done`);
    expect(lines.slice(1, 3).sort()).toEqual(
      [
        `Copying blob ${short(layers[0])} done ${mb(layers[0].size)}`,
        `Copying blob ${short(layers[1])} done ${mb(layers[1].size)}`,
      ].sort(),
    );
    expect(lines.slice(3)).toEqual([`Pulled ${REF()}`]);
  }, 120_000);
});
