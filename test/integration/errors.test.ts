// Bad input: a clear error naming the config.json field, exit 1, and nothing left behind —
// no state row, no cgroup, no per-container directory, no process.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cgroupDirsNamed, polis, tempRoot, uniqueId } from "../helpers/polis.js";
import { busyboxBundle } from "../helpers/rootfs.js";
import { TEST_CGROUP_PARENT } from "../helpers/host.js";
import { shimPath } from "../../src/paths.js";

const root = tempRoot();
const scratch = mkdtempSync(join(tmpdir(), "polis-errors-"));
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(scratch, { recursive: true, force: true });
});

/** create must fail with every `expected` text in stderr, and leave no trace of `id`. */
function expectCleanFailure(args: string[], id: string, expected: (string | RegExp)[]): void {
  const r = polis(root, [...args, id]);
  expect(r.code, r.stderr).toBe(1);
  for (const e of expected) {
    if (typeof e === "string") expect(r.stderr).toContain(e);
    else expect(r.stderr).toMatch(e);
  }
  expect(polis(root, ["state", id]).code).toBe(1);
  expect(polis(root, ["list", "-q"]).stdout.split("\n")).not.toContain(id);
  expect(existsSync(join(root, "containers", id))).toBe(false);
  expect(cgroupDirsNamed(id)).toEqual([]);
  // No process of ours is left behind with the id in its cgroup.
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    let cg = "";
    try {
      cg = readFileSync(`/proc/${pid}/cgroup`, "utf8");
    } catch {
      continue;
    }
    expect(cg).not.toContain(`/${id}\n`);
  }
}

function withBundle(edit: (c: any) => void, fn: (bundle: string, id: string) => void): void {
  const id = uniqueId("bad");
  const bundle = busyboxBundle((c) => {
    c.linux.cgroupsPath = `${TEST_CGROUP_PARENT}/${id}`;
    edit(c);
  });
  try {
    fn(bundle, id);
  } finally {
    rmSync(bundle, { recursive: true, force: true });
  }
}

describe("bad input", () => {
  it("malformed JSON", () => {
    withBundle(
      () => {},
      (bundle, id) => {
        writeFileSync(join(bundle, "config.json"), '{"ociVersion": "1.3.0", "process": {');
        expectCleanFailure(["create", "--bundle", bundle], id, ["config.json", /JSON/i]);
      },
    );
  });

  it("a missing bundle or rootfs", () => {
    const nowhere = join(tmpdir(), `polis-no-bundle-${Date.now()}`);
    expectCleanFailure(["create", "--bundle", nowhere], uniqueId("nobundle"), [nowhere]);
    withBundle(
      () => {},
      (bundle, id) => {
        rmSync(join(bundle, "rootfs"), { recursive: true });
        expectCleanFailure(["create", "--bundle", bundle], id, ["root.path", "does not exist"]);
      },
    );
  });

  it("bad ids", () => {
    const bundle = busyboxBundle();
    for (const id of ["../x", "a/b", ""]) {
      const r = polis(root, ["create", "--bundle", bundle, id]);
      expect(r.code, id).toBe(1);
      expect(r.stderr, id).toMatch(/invalid container id|cannot be empty|requires exactly 1 argument/);
    }
    expect(existsSync(join(root, "x"))).toBe(false);
    rmSync(bundle, { recursive: true, force: true });
  });

  it("a duplicate id fails cleanly and leaves the first container alone", () => {
    withBundle(
      () => {},
      (bundle, id) => {
        expect(polis(root, ["create", "--bundle", bundle, id]).code).toBe(0);
        const pid = JSON.parse(polis(root, ["state", id]).stdout).pid;
        const r = polis(root, ["create", "--bundle", bundle, id]);
        expect(r.code).toBe(1);
        expect(r.stderr).toContain(`container with id ${id} already exists`);
        const st = JSON.parse(polis(root, ["state", id]).stdout);
        expect(st).toMatchObject({ pid, status: "created" });
        expect(polis(root, ["delete", id]).code).toBe(0);
      },
    );
  });

  // create starts its shim right after validation (ShimSession.spawnEarly); a failure before the
  // plan is sent must reap that shim before polis exits, and the shim must leave without a word.
  it("a create that fails after its shim started leaves no shim and says only its error", () => {
    withBundle(
      () => {},
      (bundle, id) => {
        const log = join(scratch, `${id}.shims`);
        const wrapper = join(scratch, `${id}-shim.sh`);
        writeFileSync(wrapper, `#!/bin/sh\necho $$ >> ${log}\nexec ${shimPath()} "$@"\n`, { mode: 0o755 });
        expect(polis(root, ["create", "--bundle", bundle, id]).code).toBe(0);
        const r = polis(root, ["create", "--bundle", bundle, id], { env: { POLIS_SHIM: wrapper } });
        expect(r.code).toBe(1);
        expect(r.stderr.trim().split("\n")).toEqual([expect.stringContaining(`container with id ${id} already exists`)]);
        const shims = readFileSync(log, "utf8").trim().split("\n").map(Number);
        expect(shims).toHaveLength(1); // it did start
        expect(existsSync(`/proc/${shims[0]}`)).toBe(false); // and was reaped by polis
        expect(polis(root, ["delete", "--force", id]).code).toBe(0);
      },
    );
  });

  it("an unknown namespace type", () => {
    withBundle(
      (c) => c.linux.namespaces.push({ type: "foo" }),
      (bundle, id) => {
        expectCleanFailure(["create", "--bundle", bundle], id, [/linux\.namespaces\[\d+\]\.type/, "foo"]);
      },
    );
  });

  it("an unknown rlimit and a wrongly typed resource", () => {
    withBundle(
      (c) =>
        (c.process.rlimits = [
          { type: "RLIMIT_NOFILE", soft: 1, hard: 1 },
          { type: "RLIMIT_FOO", soft: 1, hard: 1 },
        ]),
      (bundle, id) => {
        expectCleanFailure(["create", "--bundle", bundle], id, ["process.rlimits[1].type", "RLIMIT_FOO"]);
      },
    );
    withBundle(
      (c) => (c.linux.resources = { memory: { limit: "lots" } }),
      (bundle, id) => {
        expectCleanFailure(["create", "--bundle", bundle], id, ["linux.resources.memory.limit", "integer"]);
      },
    );
  });

  it("a mount that fails in the shim names the mount and the errno", () => {
    withBundle(
      (c) => c.mounts.push({ destination: "/bad", type: "nosuchfs", source: "none" }),
      (bundle, id) => {
        expectCleanFailure(["create", "--bundle", bundle], id, [/mounts\[\d+\]/, "ENODEV"]);
      },
    );
  });

  it("a failing hook", () => {
    const hook = join(scratch, "fail.sh");
    writeFileSync(hook, "#!/bin/sh\nexit 2\n", { mode: 0o755 });
    withBundle(
      (c) => (c.hooks = { prestart: [{ path: hook }] }),
      (bundle, id) => {
        expectCleanFailure(["create", "--bundle", bundle], id, ["hooks.prestart[0]", "exit status 2"]);
      },
    );
  });

  it("writes the error as a JSON log line for containerd with --log-format json", () => {
    const log = join(scratch, "log.json");
    const r = polis(root, ["--log", log, "--log-format", "json", "kill", uniqueId("nolog"), "9"]);
    expect(r.code).toBe(1);
    const lines = readFileSync(log, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    const last = lines[lines.length - 1];
    expect(last).toMatchObject({ level: "error", msg: "container does not exist" });
    expect(new Date(last.time).toString()).not.toBe("Invalid Date");
  });
});

describe("flags clients pass", () => {
  it("--systemd-cgroup fails clearly when systemd is not running, leaving nothing", () => {
    withBundle(
      () => {},
      (bundle, id) => {
        // The exact message for this host: "systemd" alone would also match an unknown-flag error.
        const expected = existsSync("/run/systemd/system")
          ? "--systemd-cgroup: the systemd cgroup driver is not supported yet"
          : "--systemd-cgroup: systemd is not running (no /run/systemd/system)";
        expectCleanFailure(["--systemd-cgroup", "create", "--bundle", bundle], id, [expected]);
      },
    );
  });

  it("an unknown flag fails loudly instead of being ignored", () => {
    const r = polis(root, ["create", "--no-such-flag", "x"]);
    // runc's exit code and texts: usage on stdout, the error on stderr
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^Incorrect Usage: flag provided but not defined: -no-such-flag\n/);
    expect(r.stderr).toMatch(/level=error msg="(polis create: )?flag provided but not defined: -no-such-flag"/);
    expect(polis(root, ["state", "x"]).code).toBe(1); // nothing was created
  });
});

describe("run with an id already taken", () => {
  it("fails and leaves the existing container alone", () => {
    withBundle(
      () => {},
      (bundle, id) => {
        expect(polis(root, ["create", "--bundle", bundle, id]).code).toBe(0);
        const r = polis(root, ["run", "--bundle", bundle, id]);
        expect(r.code).toBe(1);
        expect(r.stderr).toContain("already exists");
        expect(JSON.parse(polis(root, ["state", id]).stdout).status).toBe("created");
        expect(polis(root, ["delete", id]).code).toBe(0);
      },
    );
  });
});

describe("--pid-file", () => {
  it("an unwritable pid file names the flag and leaves nothing", () => {
    withBundle(
      () => {},
      (bundle, id) => {
        expectCleanFailure(["create", "--bundle", bundle, "--pid-file", "/nonexistent-dir/x.pid"], id, ["--pid-file", "ENOENT"]);
      },
    );
  });
});
