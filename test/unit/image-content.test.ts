// putBlob (a manifest or an index held in memory) takes away a killed pull's temp file of the same
// blob: nothing resumes it, and the next pull would otherwise leave it in images/tmp for good.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { blobPath, ensureDirs, putBlob } from "../../src/image/content.js";

const work = mkdtempSync(join(tmpdir(), "polis-content-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("putBlob", () => {
  it("removes a dead process's temp file of that blob, and keeps a live one's and other blobs'", async () => {
    const root = join(work, "root");
    ensureDirs(root);
    const data = Buffer.from('{"schemaVersion":2}');
    const hex = createHash("sha256").update(data).digest("hex");
    const dead = spawnSync("true").pid as number; // exited and reaped: a pull that was killed
    const tmp = join(root, "images", "tmp");
    writeFileSync(join(tmp, `${hex}.${dead}.0badf00d`), data.subarray(0, 5));
    writeFileSync(join(tmp, `${hex}.1.0badf00d`), "live"); // pid 1 is alive
    writeFileSync(join(tmp, `${"0".repeat(64)}.${dead}.0badf00d`), "another blob's partial: resumed by its own fetch");
    await putBlob(root, `sha256:${hex}`, data);
    expect(existsSync(blobPath(root, `sha256:${hex}`))).toBe(true);
    expect(readdirSync(tmp).sort()).toEqual([`${"0".repeat(64)}.${dead}.0badf00d`, `${hex}.1.0badf00d`]);
  });
});
