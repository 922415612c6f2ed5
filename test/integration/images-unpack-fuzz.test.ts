// polis-layer is C reading untrusted input: random, truncated and mutated layers (headers
// mutated and re-checksummed, so the reader goes past the checksum; compressed streams
// corrupted) must each end with exactly one report line, exit 0 or 1 and no signal, and write
// nothing outside the target. (Run under ASan and UBSan by hand while it was written: clean.)
import { spawnSync } from "node:child_process";
import { gzipSync } from "node:zlib";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { layerBinary } from "../../src/image/unpack.js";
import { writeTar } from "../helpers/tarball.js";
import { seeded } from "../helpers/random.js";

const work = mkdtempSync(join(tmpdir(), "polis-unpack-fuzz-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const base = writeTar(join(work, "base.tar"), [
  { name: "a", type: "dir" },
  { name: "a/b", data: "x".repeat(700), xattrs: { "user.k": "v" } },
  { name: `${"L".repeat(150)}/x`, data: "long" },
  { name: "d", type: "dir" },
  { name: "d/.wh..wh..opq" },
  { name: "s", type: "symlink", linkname: "a/b" },
  { name: "h", type: "hardlink", linkname: "a/b" },
  { name: "up", type: "symlink", linkname: "../.." },
  { name: "c", type: "char", major: 1, minor: 3 },
]);

/** Every header block (ustar magic) gets its checksum back after a mutation. */
function fixChecksums(b: Buffer): void {
  for (let off = 0; off + 512 <= b.length; off += 512) {
    if (b.toString("latin1", off + 257, off + 262) !== "ustar") continue;
    let sum = 8 * 32;
    for (let i = 0; i < 512; i++) if (i < 148 || i >= 156) sum += b[off + i];
    b.write(`${sum.toString(8).padStart(6, "0")}\0 `, off + 148, "latin1");
  }
}

function run(input: Buffer, mode: string): { status: number | null; signal: string | null; stdout: string } {
  const target = join(work, "t");
  rmSync(target, { recursive: true, force: true });
  mkdirSync(target);
  const file = join(work, "in");
  writeFileSync(file, input);
  const r = spawnSync(layerBinary(), ["--target", target, "--mode", mode, "--from", file], { encoding: "utf8" });
  return { status: r.status, signal: r.signal, stdout: r.stdout };
}

describe("polis-layer on mutated layers", () => {
  const tar = Buffer.from(spawnSync("cat", [base]).stdout);
  const headers: number[] = [];
  for (let off = 0; off + 512 <= tar.length; off += 512)
    if (tar.toString("latin1", off + 257, off + 262) === "ustar") headers.push(off);
  const fields: [number, number][] = [
    [0, 100],
    [100, 8],
    [108, 8],
    [124, 12],
    [136, 12],
    [156, 1],
    [157, 100],
    [329, 8],
    [345, 155],
    [512, 120],
  ];
  const bytes = [0, 0x20, 0x2e, 0x2f, 0x30, 0x31, 0x35, 0x37, 0x80, 0xff];

  it("tar headers mutated and re-checksummed, some cut short: one line, exit 0 or 1, nothing outside", () => {
    const rnd = seeded(1);
    const pick = <T>(xs: T[]) => xs[Math.floor(rnd() * xs.length)];
    let oks = 0;
    for (let k = 0; k < 400; k++) {
      const b = Buffer.from(tar);
      for (let n = 1 + Math.floor(rnd() * 6); n > 0; n--) {
        const [at, len] = pick(fields);
        const pos = pick(headers) + at + Math.floor(rnd() * len);
        if (pos < b.length) b[pos] = rnd() < 0.7 ? pick(bytes) : Math.floor(rnd() * 256);
      }
      fixChecksums(b);
      const input = rnd() < 0.2 ? b.subarray(0, Math.floor(rnd() * b.length)) : b;
      const r = run(input, rnd() < 0.5 ? "apply" : "overlay");
      const what = `case ${k}: ${JSON.stringify(r)}`;
      expect(r.signal, what).toBeNull();
      expect([0, 1], what).toContain(r.status);
      expect(r.stdout, what).toMatch(r.status === 0 ? /^ok sha256:[0-9a-f]{64} \d+ \d+\n$/ : /^error .+\n$/s);
      if (r.status === 0) oks++;
    }
    expect(oks).toBeGreaterThan(10); // the mutations do not all break the archive
    expect(readdirSync(work).sort()).toEqual(["base.tar", "in", "t"]);
  }, 120_000);

  it("gzip streams corrupted or cut: one line, exit 0 or 1", () => {
    const rnd = seeded(2);
    const gz = gzipSync(tar);
    for (let k = 0; k < 150; k++) {
      const b = Buffer.from(gz);
      for (let n = 1 + Math.floor(rnd() * 4); n > 0; n--) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
      const input = rnd() < 0.3 ? b.subarray(0, Math.floor(rnd() * b.length)) : b;
      const r = run(input, "overlay");
      const what = `case ${k}: ${JSON.stringify(r)}`;
      expect(r.signal, what).toBeNull();
      expect([0, 1], what).toContain(r.status);
      expect(r.stdout, what).toMatch(r.status === 0 ? /^ok sha256:[0-9a-f]{64} \d+ \d+\n$/ : /^error .+\n$/s);
    }
    expect(readdirSync(work).sort()).toEqual(["base.tar", "in", "t"]);
  }, 120_000);
});
