// Reading a container's file from the host stays inside its root whatever links it holds.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { homeOf, readFileInRoot, withHome } from "../../src/linux/in-root.js";

const host = mkdtempSync(join(tmpdir(), "polis-inroot-"));
const root = join(host, "root");
afterAll(() => rmSync(host, { recursive: true, force: true }));

mkdirSync(join(root, "etc", "sub"), { recursive: true });
mkdirSync(join(root, "real"), { recursive: true });
writeFileSync(join(host, "secret"), "HOST\n"); // beside the root: never reachable
writeFileSync(join(root, "secret"), "INSIDE\n");
writeFileSync(join(root, "real", "passwd"), "root:x:0:0::/inside:/bin/sh\n");
symlinkSync("/real/passwd", join(root, "etc", "passwd")); // absolute: the root's /real
symlinkSync("../../../../secret", join(root, "etc", "up")); // climbs: stops at the root
symlinkSync(join(host, "secret"), join(root, "etc", "hostpath")); // a host path: taken inside
symlinkSync("sub/../../real/passwd", join(root, "etc", "relative"));
symlinkSync("loop-b", join(root, "etc", "loop-a"));
symlinkSync("loop-a", join(root, "etc", "loop-b"));
symlinkSync("/", join(root, "etc", "toroot"));
execFileSync("mkfifo", [join(root, "etc", "fifo")]);

describe("readFileInRoot", () => {
  it("resolves absolute links from the container's root", () => {
    expect(readFileInRoot(root, "/etc/passwd")).toBe("root:x:0:0::/inside:/bin/sh\n");
  });

  it("never climbs above the root with ..", () => {
    expect(readFileInRoot(root, "/etc/up")).toBe("INSIDE\n");
    expect(readFileInRoot(root, "/../../secret")).toBe("INSIDE\n");
  });

  it("takes a host path in a link as a path inside the root", () => {
    expect(readFileInRoot(root, "/etc/hostpath")).toBeUndefined(); // <root><host>/secret does not exist
  });

  it("follows relative links and links to directories", () => {
    expect(readFileInRoot(root, "/etc/relative")).toBe("root:x:0:0::/inside:/bin/sh\n");
    expect(readFileInRoot(root, "/etc/toroot/secret")).toBe("INSIDE\n");
  });

  it("gives up on loops, FIFOs, directories and missing files without blocking", () => {
    expect(readFileInRoot(root, "/etc/loop-a")).toBeUndefined();
    expect(readFileInRoot(root, "/etc/fifo")).toBeUndefined();
    expect(readFileInRoot(root, "/etc")).toBeUndefined();
    expect(readFileInRoot(root, "/nope/passwd")).toBeUndefined();
    expect(readFileInRoot(join(host, "missing-root"), "/etc/passwd")).toBeUndefined();
  });
});

describe("HOME", () => {
  it("homeOf: the entry's home, / without one", () => {
    expect(homeOf("root:x:0:0:root:/root:/bin/sh\nbob:x:1000:1000::/home/bob:/bin/sh\n", 1000)).toBe("/home/bob");
    expect(homeOf("root:x:0:0:root:/root:/bin/sh\n", 42)).toBe("/");
    expect(homeOf("", 0)).toBe("/");
  });

  it("withHome keeps a HOME, fills an empty one in place, appends a missing one", () => {
    expect(withHome(["A=1", "HOME=/mine"], 0, root)).toEqual(["A=1", "HOME=/mine"]);
    expect(withHome(["HOME=", "A=1"], 0, root)).toEqual(["HOME=/inside", "A=1"]);
    expect(withHome(["A=1"], 0, root)).toEqual(["A=1", "HOME=/inside"]);
    expect(withHome(["A=1"], 0, root, () => "root:x:0:0::/bound:/bin/sh\n")).toEqual(["A=1", "HOME=/bound"]);
  });
});
