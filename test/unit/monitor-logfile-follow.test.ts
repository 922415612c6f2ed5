// `polis logs -f` reads the k8s-file log the monitor writes while the monitor rotates it
// (FILE -> FILE.1 -> FILE.2 …, FILE.1 newest) or it is truncated: every line once, in order.
// The writer is simulated here with plain renames and appends, exactly what polis-monitor does.
import { appendFileSync, mkdtempSync, renameSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { follow, type LogRecord, type ReadPosition, readAll } from "../../src/monitor/logfile.js";

const dir = mkdtempSync(join(tmpdir(), "polis-follow-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
const rec = (text: string) => `2026-01-01T00:00:00.${String(++n).padStart(9, "0")}Z stdout F ${text}\n`;

/** Rotates as polis-monitor does with --log-max-files `max`: FILE.k -> FILE.k+1, FILE -> FILE.1. */
function rotate(path: string, max: number): void {
  for (let i = max - 2; i >= 1; i--) {
    try {
      renameSync(`${path}.${i}`, `${path}.${i + 1}`);
    } catch {
      // not there yet
    }
  }
  renameSync(path, `${path}.1`);
}

/** Starts follow() (its first read happens synchronously), runs `write`, then ends it. */
async function followWhile(path: string, max: number, pos: ReadPosition, write: () => Promise<void> | void) {
  const got: string[] = [];
  let finished = false;
  const following = follow(
    path,
    max,
    pos,
    (r: LogRecord) => got.push(r.text),
    () => finished,
    5,
  );
  await write();
  finished = true;
  await following;
  return got;
}

const tick = () => new Promise((r) => setTimeout(r, 30));

describe("logs --follow across rotation", () => {
  it("two rotations between polls: the old file's tail, the file rotated in between, then the new one", async () => {
    const path = join(dir, "twice.log");
    writeFileSync(path, rec("a1") + rec("a2"));
    const pos: ReadPosition = { ino: 0, offset: 0 };
    expect(readAll(path, 4, pos).map((r) => r.text)).toEqual(["a1", "a2"]);
    const got = await followWhile(path, 4, pos, () => {
      // all of this before follow's next poll: it finds FILE.2 = the file it had open
      appendFileSync(path, rec("a3"));
      rotate(path, 4);
      writeFileSync(path, rec("b1") + rec("b2"));
      rotate(path, 4);
      writeFileSync(path, rec("c1"));
    });
    expect(got).toEqual(["a3", "b1", "b2", "c1"]);
  });

  it("a rotation between polls, the new file made a while later, more lines after: each line once", async () => {
    const path = join(dir, "later.log");
    writeFileSync(path, rec("a1"));
    const pos: ReadPosition = { ino: 0, offset: 0 };
    readAll(path, 3, pos);
    const got = await followWhile(path, 3, pos, async () => {
      await tick();
      appendFileSync(path, rec("a2"));
      await tick();
      rotate(path, 3);
      await tick(); // polls between the rename and the new file: no FILE for a while
      writeFileSync(path, rec("b1"));
      await tick();
      appendFileSync(path, rec("b2"));
      await tick();
    });
    expect(got).toEqual(["a2", "b1", "b2"]);
  });

  it("the file the reader had open fell off the end (more rotations than files): all files kept are read", async () => {
    const path = join(dir, "fell.log");
    writeFileSync(path, rec("a1"));
    const pos: ReadPosition = { ino: 0, offset: 0 };
    readAll(path, 3, pos);
    const got = await followWhile(path, 3, pos, () => {
      rotate(path, 3); // a -> .1
      writeFileSync(path, rec("b1"));
      rotate(path, 3); // a -> .2, b -> .1
      writeFileSync(path, rec("c1"));
      rotate(path, 3); // a gone, b -> .2, c -> .1
      writeFileSync(path, rec("d1"));
    });
    // a1 was read before; what is still on disk comes oldest first
    expect(got).toEqual(["b1", "c1", "d1"]);
  });

  it("rotated between the first read and the follow: the rest of the file read, then the files after it", async () => {
    const path = join(dir, "between.log");
    writeFileSync(path, rec("a1"));
    const pos: ReadPosition = { ino: 0, offset: 0 };
    expect(readAll(path, 4, pos).map((r) => r.text)).toEqual(["a1"]);
    appendFileSync(path, rec("a2"));
    rotate(path, 4); // a -> .1
    writeFileSync(path, rec("b1"));
    rotate(path, 4); // a -> .2, b -> .1
    writeFileSync(path, rec("c1"));
    const got = await followWhile(path, 4, pos, () => {});
    expect(got).toEqual(["a2", "b1", "c1"]);
  });

  it("truncated in place: starts over at the beginning of the file", async () => {
    const path = join(dir, "trunc.log");
    writeFileSync(path, rec("a1") + rec("a2"));
    const pos: ReadPosition = { ino: 0, offset: 0 };
    readAll(path, 2, pos);
    const got = await followWhile(path, 2, pos, async () => {
      await tick();
      truncateSync(path, 0);
      await tick();
      appendFileSync(path, rec("b1"));
      await tick();
    });
    expect(got).toEqual(["b1"]);
  });

  it("no log file yet (the monitor has not written one): follows it once it appears", async () => {
    const path = join(dir, "late.log");
    const pos: ReadPosition = { ino: 0, offset: 0 };
    expect(readAll(path, 2, pos)).toEqual([]);
    const got = await followWhile(path, 2, pos, async () => {
      await tick();
      writeFileSync(path, rec("x1"));
      await tick();
      appendFileSync(path, rec("x2"));
      await tick();
    });
    expect(got).toEqual(["x1", "x2"]);
  });

  it("the writer is gone: follow still reads what it wrote last, then ends", async () => {
    const path = join(dir, "last.log");
    writeFileSync(path, rec("l1"));
    const pos: ReadPosition = { ino: 0, offset: 0 };
    readAll(path, 2, pos);
    const got: string[] = [];
    appendFileSync(path, rec("l2"));
    await follow(
      path,
      2,
      pos,
      (r) => got.push(r.text),
      () => true,
      5,
    );
    expect(got).toEqual(["l2"]);
  });
});
