// The unpacker's fast paths: cleanName is posix.normalize minus trailing slashes with a shortcut
// for clean names (the two must agree on every shape a tar name can take: the escape checks rely
// on it), and small gzip layers are inflated in memory (the same tree and diff_id as streamed).
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, posix } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cleanName, unpackLayer } from "../../src/image/unpack.js";

const NAMES = [
  ...["", ".", "./", "..", "./..", "../x", "./../x", "x/..", "a/b/../../..", "a/../b", "a/./b", "a/.", "./a/b/"],
  ...["bin", "bin/", "./bin/", "bin//x", "a//", "...", "a/...", "..a", "a/..b", "a/b..", ".a/b", "./.wh..wh..opq"],
  ...["usr/lib/x86_64-linux-gnu/libc.so.6", "./etc/ssl/certs/", "a///b//", ".//a", "./../", ".///..", "a/./", "./."],
];

describe("tar entry names", () => {
  it.each(NAMES)("%j normalises as posix.normalize does (without trailing slashes)", (name) => {
    expect(cleanName(name)).toBe(posix.normalize(name).replace(/\/+$/, ""));
  });
});

// A small gzip layer is inflated in memory in one step; a big one, or one that inflates past the
// in-memory limit, is streamed: all three give the same tree and diff_id.
describe("small and large gzip layers", () => {
  const work = mkdtempSync(join(tmpdir(), "polis-unpack-sizes-"));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it.each([
    ["small (in memory)", "head -c 300000 /dev/urandom", 1],
    ["over 4 MB compressed (streamed)", "head -c 5000000 /dev/urandom", 1],
    ["inflating past 64 MB (streamed after the in-memory try)", "head -c 70000000 /dev/zero", 2],
  ])(
    "%s",
    async (what, make, files) => {
      const src = join(work, `src-${files}-${what.length}`);
      mkdirSync(join(src, "d"), { recursive: true });
      for (let i = 0; i < files; i++) execFileSync("sh", ["-c", `${make} > ${join(src, "d", `f${i}`)}`]);
      const tar = join(work, `${what.length}.tar`);
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
