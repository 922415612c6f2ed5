// The unpacker's paths through a layer: entry names normalise as posix.normalize does (the
// escape checks rely on it), gzip layers of every size give the same tree and diff_id, and a
// layer unpacked as it downloads (fed to the child's stdin, or by another process) writes the
// same tree.
import { execFileSync, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, posix } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { LayerStream, unpackLayer } from "../../src/image/unpack.js";
import { writeTar } from "../helpers/tarball.js";
import { snapshot } from "../helpers/tree.js";
import { unpackersOf } from "../helpers/unpackers.js";

const NAMES = [
  ...["", ".", "./", "..", "./..", "../x", "./../x", "x/..", "a/b/../../..", "a/../b", "a/./b", "a/.", "./a/b/"],
  ...["bin", "bin/", "./bin/", "bin//x", "a//", "...", "a/...", "..a", "a/..b", "a/b..", ".a/b", "./.wh..wh..opq"],
  ...["usr/lib/x86_64-linux-gnu/libc.so.6", "./etc/ssl/certs/", "a///b//", ".//a", "./../", ".///..", "a/./", "./."],
];

// Each name as a one-file layer: it lands where posix.normalize puts it, or is refused as node's
// unpacker refused it (the C unpacker normalises names itself).
describe("tar entry names", () => {
  const work = mkdtempSync(join(tmpdir(), "polis-unpack-names-"));
  afterAll(() => rmSync(work, { recursive: true, force: true }));
  const L = `sha256:${"ef".repeat(32)}`;
  it.each(NAMES.map((n, i) => [n, i] as const))(
    "%j lands where posix.normalize says (without trailing slashes)",
    async (name, i) => {
      const clean = posix.normalize(name).replace(/\/+$/, "");
      const tar = writeTar(join(work, `${i}.tar`), [{ name, data: "x" }]);
      const target = mkdtempSync(join(work, "t-"));
      const got = unpackLayer(tar, { target, mode: "apply", layer: L });
      if (clean === ".." || clean.startsWith("../")) {
        await expect(got).rejects.toThrow(`layer ${L}, entry "${name}": entry "${name}" leaves the root filesystem`);
      } else if (clean === ".") {
        await expect(got).rejects.toThrow(`layer ${L}, entry "${name}": the archive root must be a directory`);
      } else if (posix.basename(clean).startsWith(".wh.")) {
        await got;
        expect(readdirSync(target)).toEqual([]);
      } else {
        expect(await got).toMatchObject({ entries: 1 });
        expect(readFileSync(join(target, clean), "utf8")).toBe("x");
      }
    },
  );
});

// Small, big, and inflating far beyond its size: the same tree and diff_id (node once had an
// in-memory path for small layers; the C unpacker streams them all).
describe("small and large gzip layers", () => {
  const work = mkdtempSync(join(tmpdir(), "polis-unpack-sizes-"));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it.each([
    ["small", "head -c 300000 /dev/urandom", 1],
    ["over 4 MB compressed", "head -c 5000000 /dev/urandom", 1],
    ["inflating past 64 MB", "head -c 70000000 /dev/zero", 2],
  ])(
    "%s",
    async (what, make, files) => {
      const src = join(work, `src-${what.replace(/\W/g, "-")}`);
      mkdirSync(join(src, "d"), { recursive: true });
      for (let i = 0; i < files; i++) execFileSync("sh", ["-c", `${make} > ${join(src, "d", `f${i}`)}`]);
      const tar = join(work, `${what.replace(/\W/g, "-")}.tar`);
      execFileSync("tar", ["--numeric-owner", "-C", src, "-cf", tar, "."]);
      execFileSync("gzip", ["-1", "-k", tar]);
      const diffId = `sha256:${createHash("sha256").update(readFileSync(tar)).digest("hex")}`;
      const out = mkdtempSync(join(work, "out-"));
      const r = await unpackLayer(`${tar}.gz`, { target: out, mode: "overlay", layer: "sha256:test", diffId });
      expect(r.diffId).toBe(diffId);
      for (let i = 0; i < files; i++) {
        expect(readFileSync(join(out, "d", `f${i}`)).equals(readFileSync(join(src, "d", `f${i}`)))).toBe(true);
      }
      // a wrong diff_id is refused the same way on every path
      await expect(
        unpackLayer(`${tar}.gz`, {
          target: mkdtempSync(join(work, "bad-")),
          mode: "overlay",
          layer: "sha256:test",
          diffId: `sha256:${"0".repeat(64)}`,
        }),
      ).rejects.toThrow(
        /layer sha256:test: uncompressed content has digest sha256:[0-9a-f]{64}, but the image config's rootfs.diff_ids says/,
      );
    },
    60_000,
  );
});

// pull unpacks a small base layer as it downloads (LayerStream): fed in pieces of any size, it
// writes what unpackLayer writes; bytes out of order make it give up (the stored blob is then
// unpacked as usual); an error in the layer waits for finish, named as unpackLayer names it.
// Another process may feed the child instead (the sink / fedElsewhere seam).
describe("a layer unpacked while it downloads", () => {
  const work = mkdtempSync(join(tmpdir(), "polis-unpack-stream-"));
  afterAll(() => rmSync(work, { recursive: true, force: true }));
  const L = `sha256:${"cd".repeat(32)}`;
  const src = join(work, "src");
  mkdirSync(join(src, "d", "e"), { recursive: true });
  execFileSync("sh", [
    "-c",
    `cd ${src} && head -c 700000 /dev/urandom > d/big && echo hi > d/e/f && ln -s e/f d/l && ln d/e/f hard`,
  ]);
  const tar = join(work, "layer.tar");
  execFileSync("tar", ["--numeric-owner", "-C", src, "-cf", tar, "."]);
  execFileSync("gzip", ["-1", "-k", tar]);
  execFileSync("zstd", ["-q", "-k", tar]);
  const diffId = `sha256:${createHash("sha256").update(readFileSync(tar)).digest("hex")}`;

  /** Feeds `blob` in pieces of `size` (the last one shorter), from `from` on, waiting when the pipe is full. */
  const feed = async (s: LayerStream, blob: Buffer, size: number, from = 0) => {
    for (let off = from; off < blob.length; off += size) await s.push(blob.subarray(off, off + size), off);
  };
  const target = () => mkdtempSync(join(work, "t-"));

  it.each([
    ["gzip", 1000, `${tar}.gz`],
    ["gzip", 16_384, `${tar}.gz`],
    ["plain tar", 3, tar],
    ["plain tar", 65_536, tar],
    ["zstd", 4096, `${tar}.zst`],
  ])("a %s layer in pieces of %d bytes gives unpackLayer's tree and diff_id", async (_kind, size, file) => {
    const want = target();
    await unpackLayer(file, { target: want, mode: "overlay", layer: L, diffId });
    const out = target();
    const s = new LayerStream({ target: out, mode: "overlay", layer: L });
    await feed(s, readFileSync(file), size);
    expect(await s.finish()).toMatchObject({ diffId, size: readFileSync(tar).length });
    expect(snapshot(out, { mtimes: true })).toEqual(snapshot(want, { mtimes: true }));
  });

  it("is fed by another process (a downloader's stdout as the unpacker's stdin), node never touching the bytes", async () => {
    const want = target();
    await unpackLayer(`${tar}.gz`, { target: want, mode: "overlay", layer: L, diffId });
    const out = target();
    const s = new LayerStream({ target: out, mode: "overlay", layer: L });
    const cat = spawn("cat", [`${tar}.gz`], { stdio: ["ignore", s.sink, "inherit"] });
    s.fedElsewhere();
    const exited = new Promise((r) => cat.once("exit", r));
    expect(await s.finish()).toMatchObject({ diffId, size: readFileSync(tar).length });
    expect(await exited).toBe(0);
    expect(snapshot(out, { mtimes: true })).toEqual(snapshot(want, { mtimes: true }));
  });

  it("gives up on bytes out of order (a download that starts over, a resumed file): the child is gone", async () => {
    const gz = readFileSync(`${tar}.gz`);
    const restarted = new LayerStream({ target: target(), mode: "overlay", layer: L });
    await feed(restarted, gz.subarray(0, 50_000), 10_000);
    await feed(restarted, gz, 10_000); // from 0 again
    expect(await restarted.finish()).toBeUndefined();
    const resumed = new LayerStream({ target: target(), mode: "overlay", layer: L });
    await feed(resumed, gz, 10_000, 20_000);
    expect(await resumed.finish()).toBeUndefined();
    expect(unpackersOf(process.pid)).toEqual([]);
  });

  it("keeps an error for finish, named with the layer and the entry; bad compressed data too", async () => {
    const climbing = writeTar(join(work, "escape.tar"), [
      { name: "ok", data: "x" },
      { name: "pad", data: randomBytes(450_000).toString("base64") }, // past one batch of the decoder
      { name: "../evil", data: "x" },
      { name: "after", data: randomBytes(450_000).toString("base64") }, // more comes once the error is kept
    ]);
    execFileSync("gzip", ["-k", climbing]);
    const out = target();
    const s = new LayerStream({ target: out, mode: "overlay", layer: L });
    // as a download does: pieces with pauses, in which the decoder gets to the bad entry
    const gzipped = readFileSync(`${climbing}.gz`);
    for (let off = 0; off < gzipped.length; off += 65_536) {
      expect(() => s.push(gzipped.subarray(off, off + 65_536), off)).not.toThrow();
      await new Promise((r) => setTimeout(r, 5));
    }
    await expect(s.finish()).rejects.toThrow(`layer ${L}, entry "../evil": entry "../evil" leaves the root filesystem`);
    expect(existsSync(join(out, "..", "evil"))).toBe(false);
    const gz = Buffer.from(readFileSync(`${tar}.gz`));
    gz.fill(0x55, 1000, 2000);
    const bad = new LayerStream({ target: target(), mode: "overlay", layer: L });
    await feed(bad, gz, 4096);
    await expect(bad.finish()).rejects.toThrow(new RegExp(`^layer ${L}.*: bad compressed data`));
  });
});
