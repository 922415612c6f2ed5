// Finding process.args[0] must not depend on syscalls the container's seccomp profile may deny.
// Without no_new_privs the filter is loaded before the capabilities drop, so FIND_EXEC runs under
// it: glibc's faccessat is the faccessat2 syscall, which many allow-lists lack (runc starts these
// containers: Go's Faccessat falls back to the mode bits on EPERM/ENOSYS, and so does the shim).
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runScript } from "../helpers/containers.js";
import { tempRoot } from "../helpers/polis.js";
import { REPO } from "../helpers/rootfs.js";

type Rule = { names: string[]; action: string; errnoRet?: number };
const DOCKER_LIKE = JSON.parse(readFileSync(join(REPO, "test/fixtures/seccomp-docker-like.json"), "utf8"));

let root: string;
beforeAll(() => {
  root = tempRoot();
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const status = (out: string, key: string) => out.match(new RegExp(`^${key}:\\s*(\\S+)`, "m"))?.[1];
const script = "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status";

describe("executable lookup under a seccomp filter (noNewPrivileges false)", () => {
  it("runs with a profile that only denies faccessat2 with EPERM", () => {
    const r = runScript(root, script, (c) => {
      c.process.noNewPrivileges = false;
      c.linux.seccomp = {
        defaultAction: "SCMP_ACT_ALLOW",
        syscalls: [{ names: ["faccessat2"], action: "SCMP_ACT_ERRNO", errnoRet: 1 }],
      };
    });
    expect(r.stderr).not.toContain("find executable");
    expect(r.code, r.stderr).toBe(0);
    expect(status(r.stdout, "Seccomp")).toBe("2"); // the filter is really loaded
    expect(status(r.stdout, "NoNewPrivs")).toBe("0");
  });

  it("runs with a docker-like allow-list that lacks faccessat2 (denied with the default EPERM)", () => {
    const syscalls = DOCKER_LIKE.syscalls.map((r: Rule) => ({ ...r, names: r.names.filter((n) => n !== "faccessat2") }));
    const r = runScript(root, script, (c) => {
      c.process.noNewPrivileges = false;
      c.linux.seccomp = { ...DOCKER_LIKE, syscalls };
    });
    expect(r.code, r.stderr).toBe(0);
    expect(status(r.stdout, "Seccomp")).toBe("2");
  });

  it("still refuses a file without execute bits, under the filter", () => {
    const r = runScript(root, "true", (c) => {
      c.process.noNewPrivileges = false;
      c.process.args = ["/etc/passwd"];
      c.linux.seccomp = {
        defaultAction: "SCMP_ACT_ALLOW",
        syscalls: [{ names: ["faccessat2"], action: "SCMP_ACT_ERRNO", errnoRet: 1 }],
      };
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("process.args[0]");
    expect(r.stderr).toContain("EACCES");
  });
});
