// A pull killed while a manifest's fsync ran (off the event loop: a busy thread pool makes that
// window long) left its temp file; the next pull's putBlob of the same manifest removes it. A
// temp file of a live process, or of another digest, stays.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { blobPath, ensureDirs, putBlob, tmpDir } from "../../src/image/content.js";

const root = mkdtempSync(join(tmpdir(), "polis-content-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

it("putBlob removes what a dead process left for that digest, nothing else", async () => {
  ensureDirs(root);
  const body = Buffer.from('{"schemaVersion":2}');
  const digest = `sha256:${createHash("sha256").update(body).digest("hex")}`;
  const hex = digest.slice(7);
  // a pid that is surely gone: a child that has exited and was reaped
  const dead = spawnSync("true").pid as number;
  const stale = `${hex}.${dead}.0a0b0c0d`;
  const alive = `${hex}.${process.ppid}.0a0b0c0d`;
  const other = `${"0".repeat(64)}.${dead}.0a0b0c0d`;
  for (const name of [stale, alive, other]) writeFileSync(join(tmpDir(root), name), body);
  await putBlob(root, digest, body);
  expect(readFileSync(blobPath(root, digest)).equals(body)).toBe(true);
  expect(readdirSync(tmpDir(root)).sort()).toEqual([other, alive].sort());
});
