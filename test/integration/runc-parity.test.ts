// Behaviour that follows runc 1.1.5 where polis used to differ (issue 8, the Node side): each
// case runs real containers and checks from outside what runc does on this host.
import { existsSync, mkdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cgroupDirsNamed, polis, polisOk, tempRoot, uniqueId, waitFor } from "../helpers/polis.js";
import { busyboxBundle } from "../helpers/rootfs.js";
import { runScript, withRunning } from "../helpers/containers.js";
import { layout } from "../helpers/host.js";

const root = tempRoot();
afterAll(() => rmSync(root, { recursive: true, force: true }));

// the v1 freezer hierarchy, wherever this host mounts it (none on a pure v2 host: the test skips)
const FREEZER = layout().v1.find((h) => h.controllers.includes("freezer"))?.mountpoint ?? "/nonexistent";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("a cgroup frozen before create", () => {
  it.skipIf(!existsSync(FREEZER))("is refused with runc's error instead of hanging", async () => {
    const parent = uniqueId("polis-frozen");
    const dir = join(FREEZER, parent, "c");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "freezer.state"), "FROZEN");
    const id = uniqueId("frozen");
    const bundle = busyboxBundle((c) => {
      c.process.args = ["true"];
      c.linux.cgroupsPath = `/${parent}/c`;
    });
    try {
      const started = Date.now();
      // SIGKILL on timeout: a polis that hangs (the bug) must not outlive the test
      const r = polis(root, ["run", "--bundle", bundle, id], { timeout: 20_000, killSignal: "SIGKILL" });
      expect(r.signal).toBeNull(); // not killed by the timeout: it did not hang
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("linux.cgroupsPath: container's cgroup unexpectedly frozen");
      expect(Date.now() - started).toBeLessThan(15_000);
      // nothing recorded, and the cgroup (not ours) is left as it was
      expect(polisOk(root, ["list", "-q"]).stdout).toBe("");
      expect(readFileSync(join(dir, "freezer.state"), "utf8").trim()).toBe("FROZEN");
    } finally {
      writeFileSync(join(dir, "freezer.state"), "THAWED");
      polis(root, ["delete", "--force", id]);
      // a regression leaves the shim in there until it has run on
      for (let i = 0; i < 100 && readFileSync(join(dir, "cgroup.procs"), "utf8").trim() !== ""; i++) await sleep(50);
      rmdirSync(dir);
      rmdirSync(join(FREEZER, parent));
      rmSync(bundle, { recursive: true, force: true });
    }
  });
});

describe("ps", () => {
  it("of a stopped container prints only the header (json: null) and succeeds, as runc", async () => {
    const id = uniqueId("psstop");
    const bundle = busyboxBundle((c) => {
      c.process.args = ["true"];
    });
    try {
      polisOk(root, ["run", "--detach", "--bundle", bundle, id]);
      await waitFor(() => JSON.parse(polisOk(root, ["state", id]).stdout).status === "stopped");
      const table = polis(root, ["ps", id]);
      expect(table.code).toBe(0);
      expect(table.stdout).toMatch(/^UID\s+PID\s+PPID\s+C\s+STIME\s+TTY\s+TIME\s+CMD\n$/);
      const custom = polis(root, ["ps", id, "-o", "pid,comm"]);
      expect(custom.code).toBe(0);
      expect(custom.stdout).toMatch(/^\s*PID COMMAND\n$/);
      const json = polis(root, ["ps", "--format", "json", id]);
      expect(json.code).toBe(0);
      expect(json.stdout).toBe("null\n");
    } finally {
      polis(root, ["delete", "--force", id]);
      rmSync(bundle, { recursive: true, force: true });
    }
  });
});

describe("sysctl", () => {
  it("kernel.hostname equal to hostname is no conflict; the container gets that name", () => {
    const r = runScript(root, "hostname; cat /proc/sys/kernel/domainname", (c) => {
      c.hostname = "same-name";
      c.domainname = "example.org";
      c.linux.sysctl = { "kernel.hostname": "same-name", "kernel.domainname": "example.org" };
    });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("same-name\nexample.org\n");
  });
});

describe("linux.devices", () => {
  it("a path with a trailing slash makes the node, as runc", () => {
    const r = runScript(root, "ls -l /dev/kmsg", (c) => {
      c.linux.devices = [{ path: "/dev/kmsg/", type: "c", major: 1, minor: 11, fileMode: 0o600 }];
    });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^crw-------\s.*\s1,\s+11\s.*\/dev\/kmsg\n$/);
  });
});

describe("global flags", () => {
  it("an unusable --log path is an error before anything runs", () => {
    const id = uniqueId("badlog");
    const bundle = busyboxBundle((c) => {
      c.process.args = ["true"];
    });
    try {
      const r = polis(root, ["--log", "/nonexistent-polis-dir/x.log", "run", "--bundle", bundle, id]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("open /nonexistent-polis-dir/x.log: no such file or directory");
      expect(polisOk(root, ["list", "-q"]).stdout).toBe("");
    } finally {
      polis(root, ["delete", "--force", id]);
      rmSync(bundle, { recursive: true, force: true });
    }
  });

  it("an unknown --log-format is an error before anything runs", () => {
    const r = polis(root, ["--log-format", "xml", "list"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("invalid log-format: xml");
  });
});

describe("slightly-off input runc accepts", () => {
  it("device access beyond rwm and hugepage limits spelled pagesize: applied as runc reads them, with warnings", () => {
    const id = uniqueId("lenient");
    const hugetlb = existsSync("/sys/kernel/mm/hugepages/hugepages-2048kB");
    const bundle = busyboxBundle((c) => {
      c.linux.resources.devices.push({ allow: true, type: "c", major: 1, minor: 11, access: "rwmx" });
      if (hugetlb) c.linux.resources.hugepageLimits = [{ pagesize: "2MB", limit: 4194304 }];
    });
    try {
      const r = polis(root, ["run", "--detach", "--bundle", bundle, id]);
      expect(r.code).toBe(0);
      expect(r.stderr).toContain(
        'level=warning msg="linux.resources.devices[1].access: \\"rwmx\\" has letters other than r, w and m',
      );
      const dirs = cgroupDirsNamed(id);
      const devicesMount = layout().v1.find((h) => h.controllers.includes("devices"))?.mountpoint;
      const devices = devicesMount && dirs.find((d) => d.startsWith(`${devicesMount}/`));
      if (devices) expect(readFileSync(join(devices, "devices.list"), "utf8")).toContain("c 1:11 rwm");
      if (hugetlb) {
        expect(r.stderr).toContain("linux.resources.hugepageLimits[0].pagesize: read as");
        const withHugetlb = dirs.find(
          (d) => existsSync(join(d, "hugetlb.2MB.max")) || existsSync(join(d, "hugetlb.2MB.limit_in_bytes")),
        );
        expect(withHugetlb).toBeDefined();
        const file = existsSync(join(withHugetlb!, "hugetlb.2MB.max")) ? "hugetlb.2MB.max" : "hugetlb.2MB.limit_in_bytes";
        expect(readFileSync(join(withHugetlb!, file), "utf8").trim()).toBe("4194304");
      }
    } finally {
      polis(root, ["delete", "--force", id]);
      rmSync(bundle, { recursive: true, force: true });
    }
  });
});

describe("runc's wording, with the field path kept", () => {
  it("a config that breaks a rule is an invalid configuration", () => {
    const r = runScript(root, "true", (c) => {
      c.process.rlimits = [{ type: "RLIMIT_FOO", hard: 1, soft: 1 }];
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('invalid configuration: process.rlimits[0].type: unknown rlimit \\"RLIMIT_FOO\\"');
  });

  it("an unreachable seccomp agent: failed to connect with seccomp agent", () => {
    const r = runScript(root, "true", (c) => {
      c.linux.seccomp = {
        defaultAction: "SCMP_ACT_ALLOW",
        listenerPath: `/tmp/polis-no-agent-${uniqueId()}.sock`,
        syscalls: [{ names: ["mkdirat"], action: "SCMP_ACT_NOTIFY" }],
      };
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("linux.seccomp.listenerPath: failed to connect with seccomp agent");
    expect(r.stderr).toContain("(ENOENT)");
  });

  it("a cwd that cannot be entered: chdir", async () => {
    await withRunning(
      root,
      () => {},
      (id) => {
        const r = polis(root, ["exec", "--cwd", "/no-such-dir", id, "true"]);
        expect(r.code).toBe(255);
        expect(r.stderr).toContain('process.cwd: chdir to cwd \\"/no-such-dir\\": no such file or directory (ENOENT)');
      },
    );
  });
});

describe("--debug", () => {
  it("logs the validated config, cgroup paths, each shim step with its field, hook runs and timings", () => {
    const id = uniqueId("debug");
    const logFile = join(root, `${id}.log`);
    const bundle = busyboxBundle((c) => {
      c.process.args = ["true"];
      c.hooks = { prestart: [{ path: "/bin/true" }] };
    });
    try {
      polisOk(root, ["--debug", "--log", logFile, "--log-format", "json", "run", "--bundle", bundle, id]);
      const lines = readFileSync(logFile, "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l));
      const find = (msg: string | RegExp) => lines.find((l) => (typeof msg === "string" ? l.msg === msg : msg.test(l.msg)));
      expect(lines.every((l) => l.level === "debug")).toBe(true);
      expect(find("config.json validated")).toMatchObject({
        args: "true",
        bundle,
        namespaces: "pid,network,ipc,uts,mount",
        hooks: "prestart=1",
      });
      expect(find("cgroup paths")?.devices ?? find("cgroup paths")?.unified).toMatch(new RegExp(`/${id}$`));
      expect(find(/^shim step \d+: MOUNT$/)).toMatchObject({ field: "root.path" });
      expect(
        lines.some((l) => /^shim step \d+: MOUNT$/.test(l.msg) && l.field === "mounts[0]" && l.what === "mount proc on /proc"),
      ).toBe(true);
      expect(find("shim reported pid")).toMatchObject({ field: "linux.namespaces" });
      expect(find("shim reported ready")?.ms).toBeGreaterThan(0);
      expect(find("hook done")).toMatchObject({ hook: "hooks.prestart[0]", path: "/bin/true" });
      expect(lines.filter((l) => l.msg === "phase").map((l) => l.name)).toContain("cgroup setup");
      expect(find("polis finished")).toMatchObject({ exitCode: 0 });
    } finally {
      polis(root, ["delete", "--force", id]);
      rmSync(bundle, { recursive: true, force: true });
    }
  });

  it("without it nothing of this is written", () => {
    const id = uniqueId("nodebug");
    const logFile = join(root, `${id}.log`);
    const bundle = busyboxBundle((c) => {
      c.process.args = ["true"];
    });
    try {
      const r = polisOk(root, ["--log", logFile, "run", "--bundle", bundle, id]);
      expect(r.stderr).toBe("");
      expect(readFileSync(logFile, "utf8")).toBe("");
    } finally {
      polis(root, ["delete", "--force", id]);
      rmSync(bundle, { recursive: true, force: true });
    }
  });
});
