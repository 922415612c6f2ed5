// The image-bundle releaser (src/image/release.ts) removes a bundle as `run --image` leaves it:
// synchronously on a tmpfs, with node's asynchronous rm on a disk file system. Both ways must
// remove every entry, including overlayfs's mode-0 work/ directories, and a second call (delete
// --force after a crash half-way) must find nothing to do.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statfsSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { GlobalOptions } from "../../src/container/options.js";
import { release } from "../../src/image/release.js";
import type { Store } from "../../src/state/store.js";

const TMPFS_MAGIC = 0x01021994;
const base = mkdtempSync(join(tmpdir(), "polis-image-release-"));
const tmpfs = join(base, "tmpfs");
mkdirSync(tmpfs);
// a private tmpfs for the synchronous path (root only; the test says so when it cannot mount)
const mounted =
  process.geteuid?.() === 0 && spawnSync("mount", ["-t", "tmpfs", "-o", "size=4m", "polis-test", tmpfs]).status === 0;
afterAll(() => {
  if (mounted) spawnSync("umount", [tmpfs]);
  rmSync(base, { recursive: true, force: true });
});

/** A bundle as a foreground `run --image` leaves it once the container's namespace is gone. */
function bundle(dir: string): string {
  mkdirSync(join(dir, "rootfs"), { recursive: true });
  mkdirSync(join(dir, "upper", "etc"), { recursive: true });
  writeFileSync(join(dir, "upper", "etc", "hostname"), "c1\n");
  mkdirSync(join(dir, "work", "work", "incompat", "volatile"), { recursive: true });
  writeFileSync(join(dir, "work", "work", "incompat", "volatile", "dirty"), "");
  for (const d of ["work/work/incompat/volatile", "work/work/incompat", "work/work"]) chmodSync(join(dir, d), 0);
  writeFileSync(join(dir, "config.json"), "{}");
  return dir;
}

const g = { root: base } as GlobalOptions;
const store = {} as Store; // the releaser does not touch the database
const row = (dir: string) => ({ containerId: "c1", kind: "image-bundle", name: dir, data: { image: "sha256:x", dir } });

describe("image-bundle release", () => {
  // the temp dir's own file system decides; a host whose TMPDIR is a tmpfs has only the other path
  it.skipIf(Number(statfsSync(base).type) === TMPFS_MAGIC)(
    "removes the whole bundle on a disk file system (node's asynchronous rm), and again finds nothing",
    async () => {
      const dir = bundle(join(base, "disk-bundle"));
      await release(g, store, row(dir));
      expect(existsSync(dir)).toBe(false);
      await release(g, store, row(dir));
      expect(existsSync(dir)).toBe(false);
    },
  );

  it.skipIf(!mounted)("removes the whole bundle on a tmpfs (one synchronous rm), and again finds nothing", async () => {
    const dir = bundle(join(tmpfs, "bundle"));
    expect(Number(statfsSync(dir).type)).toBe(TMPFS_MAGIC);
    await release(g, store, row(dir));
    expect(existsSync(dir)).toBe(false);
    expect(existsSync(tmpfs)).toBe(true);
    await release(g, store, row(dir));
    expect(existsSync(dir)).toBe(false);
  });

  it("refuses a row without an absolute bundle directory", async () => {
    await expect(release(g, store, { ...row("x"), data: { image: "sha256:x", dir: "rel/dir" } })).rejects.toThrow(
      /image-bundle resource without a bundle directory/,
    );
  });
});
