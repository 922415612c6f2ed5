// loadSpec: file-level errors, schema errors in config.json's notation, and the semantic checks.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { PolisError } from "../../src/errors.js";
import { defaultSpec } from "../../src/spec/default.js";
import { loadSpec, parseProcess, parseSpec, validateSpec } from "../../src/spec/load.js";
import { pointerToField } from "../../src/spec/schema-errors.js";
import { findJsonProblem } from "../../src/spec/json-error.js";
import type { Spec } from "../../src/spec/types.js";

const tmp = mkdtempSync(join(tmpdir(), "polis-spec-load-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** runc's default config plus `edit`, validated; returns the error message or "ok". */
function check(edit: (c: any) => void, base: Spec = defaultSpec()): string {
  const c = structuredClone(base) as any;
  edit(c);
  try {
    validateSpec(c);
    return "ok";
  } catch (e) {
    expect(e).toBeInstanceOf(PolisError);
    return (e as Error).message;
  }
}

describe("loadSpec: the bundle and the file", () => {
  test("reads and validates <bundle>/config.json", () => {
    const b = join(tmp, "good");
    mkdirSync(b);
    writeFileSync(join(b, "config.json"), JSON.stringify(defaultSpec()));
    const spec = loadSpec(b);
    expect(spec.process?.args).toEqual(["sh"]);
    expect(spec.linux?.namespaces?.map((n) => n.type)).toContain("pid");
  });

  test("missing bundle directory", () => {
    const b = join(tmp, "nope");
    expect(() => loadSpec(b)).toThrow(`bundle "${b}": no such directory (ENOENT)`);
    try {
      loadSpec(b);
    } catch (e) {
      expect((e as PolisError).detail.errno).toBe("ENOENT");
    }
  });

  test("bundle that is a file", () => {
    const f = join(tmp, "afile");
    writeFileSync(f, "");
    expect(() => loadSpec(f)).toThrow(`bundle "${f}": not a directory (ENOTDIR)`);
  });

  test("missing config.json", () => {
    const b = join(tmp, "empty");
    mkdirSync(b);
    expect(() => loadSpec(b)).toThrow(`config.json: not found in bundle "${b}" (ENOENT)`);
  });

  test("config.json that is a directory", () => {
    const b = join(tmp, "dirconfig");
    mkdirSync(join(b, "config.json"), { recursive: true });
    expect(() => loadSpec(b)).toThrow(`config.json: cannot read ${join(b, "config.json")} (EISDIR)`);
  });

  test("unreadable config.json reports EACCES (skipped as root: root reads anything)", () => {
    if (process.getuid?.() === 0) return;
    const b = join(tmp, "noperm");
    mkdirSync(b);
    writeFileSync(join(b, "config.json"), "{}");
    chmodSync(join(b, "config.json"), 0);
    expect(() => loadSpec(b)).toThrow(/\(EACCES\)$/);
  });
});

describe("malformed JSON", () => {
  const cases: [string, string][] = [
    ["", "config.json: invalid JSON at line 1 column 1: unexpected end of input"],
    ["{]", "config.json: invalid JSON at line 1 column 2: expected a double-quoted property name"],
    ['{\n  "ociVersion": "1.3.0",\n}', "config.json: invalid JSON at line 3 column 1: expected a double-quoted property name"],
    ['{\n  "a": [1, 2,, 3]\n}', 'config.json: invalid JSON at line 2 column 14: unexpected character ","'],
    ['{"a": tru}', 'config.json: invalid JSON at line 1 column 10: unexpected character "}"'],
    ['{"a": 1} x', "config.json: invalid JSON at line 1 column 10: unexpected data after the document"],
    ['{"a": "b', "config.json: invalid JSON at line 1 column 9: unterminated string"],
    ['{"a" 1}', 'config.json: invalid JSON at line 1 column 6: expected ":" after property name'],
    ['{"a": 01}', 'config.json: invalid JSON at line 1 column 8: expected "," or "}"'],
    ['{"a": "\\x"}', "config.json: invalid JSON at line 1 column 9: bad escape in string"],
    ["\uFEFF{}", 'config.json: invalid JSON at line 1 column 1: unexpected character "\uFEFF"'],
  ];
  for (const [text, message] of cases) {
    test(JSON.stringify(text), () => expect(() => parseSpec(text)).toThrow(message));
  }

  test("the scanner agrees with JSON.parse on valid documents", () => {
    for (const text of [
      '{"a":[1,-2.5e+3,true,false,null,"\\u00e9\\n"],"b":{}}',
      "[]",
      " 0 ",
      JSON.stringify(defaultSpec(), null, "\t"),
    ]) {
      JSON.parse(text);
      expect(findJsonProblem(text)).toBeNull();
    }
  });

  test("a valid JSON document that is not an object", () => {
    expect(() => parseSpec("[]")).toThrow("config.json: must be an object");
  });
});

describe("schema errors name the field", () => {
  const cases: [string, (c: any) => void, string][] = [
    ["missing ociVersion", (c) => delete c.ociVersion, 'config.json: missing required field "ociVersion"'],
    ["mount without destination", (c) => delete c.mounts[0].destination, 'mounts[0]: missing required field "destination"'],
    [
      "memory limit not an integer",
      (c) => (c.linux.resources.memory = { limit: "1g" }),
      "linux.resources.memory.limit: must be an integer",
    ],
    [
      "memory limit fractional",
      (c) => (c.linux.resources.memory = { limit: 1.5 }),
      "linux.resources.memory.limit: must be an integer",
    ],
    ["rlimit soft negative", (c) => (c.process.rlimits[0].soft = -1), "process.rlimits[0].soft: must be >= 0"],
    ["rlimit missing hard", (c) => delete c.process.rlimits[0].hard, 'process.rlimits[0]: missing required field "hard"'],
    ["uid too big", (c) => (c.process.user.uid = 2 ** 32), "process.user.uid: must be <= 4294967295"],
    [
      "pids limit beyond int64",
      (c) => (c.linux.resources.pids = { limit: 2 ** 64 }),
      "linux.resources.pids.limit: must be <= 9223372036854775807",
    ],
    ["terminal not boolean", (c) => (c.process.terminal = "yes"), "process.terminal: must be a boolean"],
    ["args not strings", (c) => (c.process.args = ["sh", 1]), "process.args[1]: must be a string"],
    ["cwd missing", (c) => delete c.process.cwd, 'process: missing required field "cwd"'],
    ["root path missing", (c) => (c.root = {}), 'root: missing required field "path"'],
    [
      "ioPriority class",
      (c) => (c.process.ioPriority = { class: "IOPRIO_CLASS_FAST" }),
      'process.ioPriority.class: must be one of "IOPRIO_CLASS_RT", "IOPRIO_CLASS_BE", "IOPRIO_CLASS_IDLE"',
    ],
    [
      "rootfsPropagation",
      (c) => (c.linux.rootfsPropagation = "rbogus"),
      'linux.rootfsPropagation: must be one of "private", "shared", "slave", "unbindable", "rprivate", "rshared", "rslave", "runbindable"',
    ],
    [
      "seccomp action",
      (c) => (c.linux.seccomp = { defaultAction: "SCMP_ACT_NOPE" }),
      'linux.seccomp.defaultAction: must be one of "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP", "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY"',
    ],
    [
      "seccomp syscall without names",
      (c) => (c.linux.seccomp = { defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: [], action: "SCMP_ACT_ERRNO" }] }),
      "linux.seccomp.syscalls[0].names: must have at least 1 item",
    ],
    [
      "sysctl value not a string",
      (c) => (c.linux.sysctl = { "net.ipv4.ip_forward": 1 }),
      'linux.sysctl["net.ipv4.ip_forward"]: must be a string',
    ],
    [
      "annotations value",
      (c) => (c.annotations = { "org.example/key": true }),
      'annotations["org.example/key"]: must be a string',
    ],
    [
      "device type",
      (c) => (c.linux.devices = [{ type: "x", path: "/dev/x" }]),
      'linux.devices[0].type: must be one of "c", "b", "u", "p"',
    ],
    [
      "hugepage size",
      (c) => (c.linux.resources.hugepageLimits = [{ pageSize: "2mb", limit: 1 }]),
      "linux.resources.hugepageLimits[0].pageSize: must match the pattern ^[1-9][0-9]*[KMG]B$",
    ],
    ["linux not an object", (c) => (c.linux = []), "linux: must be an object"],
    [
      "hook timeout 0",
      (c) => (c.hooks = { poststop: [{ path: "/bin/true", timeout: 0 }] }),
      "hooks.poststop[0].timeout: must be >= 1",
    ],
  ];
  for (const [name, edit, message] of cases) test(name, () => expect(check(edit)).toBe(message));

  test("pointerToField", () => {
    expect(pointerToField("/process/rlimits/1/type")).toBe("process.rlimits[1].type");
    expect(pointerToField("/linux/sysctl/net.core.somaxconn")).toBe('linux.sysctl["net.core.somaxconn"]');
    expect(pointerToField("/annotations/a~1b~0c")).toBe('annotations["a/b~c"]');
    expect(pointerToField("/args/0", "process")).toBe("process.args[0]");
    expect(pointerToField("")).toBe("");
  });
});

describe("semantic checks", () => {
  const rootless = defaultSpec({ rootless: true });
  const cases: [string, (c: any) => void, string, Spec?][] = [
    [
      "unknown rlimit",
      (c) => c.process.rlimits.push({ type: "RLIMIT_FOO", soft: 1, hard: 1 }),
      'process.rlimits[1].type: unknown rlimit "RLIMIT_FOO"',
    ],
    [
      "duplicate rlimit",
      (c) => c.process.rlimits.push({ type: "RLIMIT_NOFILE", soft: 1, hard: 1 }),
      'process.rlimits[1].type: duplicate rlimit "RLIMIT_NOFILE"',
    ],
    ["rlimit soft > hard", (c) => (c.process.rlimits[0].soft = 5000), "process.rlimits[0].soft: must not exceed hard (1024)"],
    [
      "unknown capability",
      (c) => c.process.capabilities.ambient.push("CAP_FOO"),
      'process.capabilities.ambient[3]: unknown capability "CAP_FOO"',
    ],
    [
      "lower-case capability",
      (c) => (c.process.capabilities.bounding[0] = "cap_kill"),
      'process.capabilities.bounding[0]: unknown capability "cap_kill"',
    ],
    [
      "unknown namespace",
      (c) => c.linux.namespaces.splice(3, 0, { type: "foo" }),
      'linux.namespaces[3].type: unknown namespace type "foo"',
    ],
    [
      "duplicate namespace",
      (c) => c.linux.namespaces.push({ type: "pid" }),
      'linux.namespaces[5].type: duplicate namespace type "pid"',
    ],
    [
      "relative namespace path",
      (c) => (c.linux.namespaces[0].path = "proc/1/ns/pid"),
      'linux.namespaces[0].path: must be an absolute path, got "proc/1/ns/pid"',
    ],
    [
      "new userns without uid mappings",
      (c) => c.linux.namespaces.push({ type: "user" }),
      "linux.uidMappings: required when a new user namespace is requested",
    ],
    [
      "new userns without gid mappings",
      (c) => delete c.linux.gidMappings,
      "linux.gidMappings: required when a new user namespace is requested",
      rootless,
    ],
    [
      "mappings without userns",
      (c) => (c.linux.uidMappings = [{ containerID: 0, hostID: 1000, size: 1 }]),
      'linux.uidMappings: only allowed with a new user namespace (linux.namespaces has no "user" entry without a path)',
    ],
    [
      "mappings with a joined userns",
      (c) => (c.linux.namespaces[4].path = "/proc/1/ns/user"),
      'linux.uidMappings: only allowed with a new user namespace (linux.namespaces has no "user" entry without a path)',
      rootless,
    ],
    [
      "joined userns without mappings is fine",
      (c) => {
        c.linux.namespaces[4].path = "/proc/1/ns/user";
        delete c.linux.uidMappings;
        delete c.linux.gidMappings;
      },
      "ok",
      rootless,
    ],
    [
      "zero-size mapping",
      (c) => (c.linux.uidMappings[0].size = 0),
      "linux.uidMappings[0].size: must be greater than 0",
      rootless,
    ],
    [
      "relative mount destination",
      (c) => (c.mounts[0].destination = "proc"),
      'mounts[0].destination: must be an absolute path, got "proc"',
    ],
    [
      "idmapped mount with only uid mappings",
      (c) => (c.mounts[0].uidMappings = [{ containerID: 0, hostID: 1, size: 1 }]),
      "mounts[0].gidMappings: required for an idmapped mount (both uid and gid mappings)",
    ],
    ["no root", (c) => delete c.root, "root: required on Linux"],
    ["empty root path", (c) => (c.root.path = ""), "root.path: must not be empty"],
    [
      "timeOffsets without time ns",
      (c) => (c.linux.timeOffsets = { monotonic: { secs: 1 } }),
      'linux.timeOffsets: requires a new time namespace (linux.namespaces entry "time" without a path)',
    ],
    [
      "timeOffsets with time ns",
      (c) => {
        c.linux.timeOffsets = { monotonic: { secs: 1 } };
        c.linux.namespaces.push({ type: "time" });
      },
      "ok",
    ],
    [
      "timeOffsets unknown clock",
      (c) => {
        c.linux.timeOffsets = { realtime: { secs: 1 } };
        c.linux.namespaces.push({ type: "time" });
      },
      'linux.timeOffsets.realtime: unknown clock; must be one of "monotonic", "boottime"',
    ],
    ["empty args", (c) => (c.process.args = []), "process.args: must not be empty"],
    ["no args", (c) => delete c.process.args, "process.args: must not be empty"],
    ["relative cwd", (c) => (c.process.cwd = "tmp"), 'process.cwd: must be an absolute path, got "tmp"'],
    ["env without =", (c) => c.process.env.push("FOO"), 'process.env[2]: must be NAME=value, got "FOO"'],
    [
      "relative hook path",
      (c) => (c.hooks = { prestart: [{ path: "hook.sh" }] }),
      'hooks.prestart[0].path: must be an absolute path, got "hook.sh"',
    ],
    [
      "hostname without uts ns",
      (c) => (c.linux.namespaces = c.linux.namespaces.filter((n: any) => n.type !== "uts")),
      'hostname: requires a uts namespace (add {"type": "uts"} to linux.namespaces)',
    ],
    [
      "sysctl outside any namespace",
      (c) => (c.linux.sysctl = { "vm.swappiness": "1" }),
      'linux.sysctl["vm.swappiness"]: sysctl is not in a separate kernel namespace',
    ],
    [
      "sysctl with a slash",
      (c) => (c.linux.sysctl = { "kernel.foo/bar": "1" }),
      'linux.sysctl["kernel.foo/bar"]: not a sysctl name (expected dotted words like net.ipv4.ip_forward)',
    ],
    [
      "sysctl with ..",
      (c) => (c.linux.sysctl = { "net..core": "1" }),
      'linux.sysctl["net..core"]: not a sysctl name (expected dotted words like net.ipv4.ip_forward)',
    ],
    [
      "net sysctl without network ns",
      (c) => (c.linux.sysctl = { "net.ipv4.ip_forward": "1" }),
      'linux.sysctl["net.ipv4.ip_forward"]: requires a network namespace',
      rootless,
    ],
    [
      "net sysctl with network ns",
      (c) => (c.linux.sysctl = { "net.ipv4.ip_forward": "1", "kernel.shmmax": "1", "fs.mqueue.msg_max": "10" }),
      "ok",
    ],
    [
      "kernel.hostname conflicts with hostname",
      (c) => (c.linux.sysctl = { "kernel.hostname": "x" }),
      'linux.sysctl["kernel.hostname"]: conflicts with the hostname field ("runc")',
    ],
    ["kernel.hostname equal to hostname is no conflict", (c) => (c.linux.sysctl = { "kernel.hostname": "runc" }), "ok"],
    [
      "kernel.domainname equal to domainname is no conflict",
      (c) => {
        c.domainname = "example.org";
        c.linux.sysctl = { "kernel.domainname": "example.org" };
      },
      "ok",
    ],
    [
      "kernel.domainname conflicts with domainname",
      (c) => {
        c.domainname = "example.org";
        c.linux.sysctl = { "kernel.domainname": "other.org" };
      },
      'linux.sysctl["kernel.domainname"]: conflicts with the domainname field ("example.org")',
    ],
    ["kernel.domainname alone with a uts ns", (c) => (c.linux.sysctl = { "kernel.domainname": "example.org" }), "ok"],
    [
      "kernel.hostname without a uts ns",
      (c) => {
        delete c.hostname;
        c.linux.namespaces = c.linux.namespaces.filter((n: any) => n.type !== "uts");
        c.linux.sysctl = { "kernel.hostname": "x" };
      },
      'linux.sysctl["kernel.hostname"]: requires a uts namespace',
    ],
    [
      "personality domain",
      (c) => (c.linux.personality = { domain: "LINUX64" }),
      'linux.personality.domain: must be one of "LINUX", "LINUX32"',
    ],
    ["personality without domain", (c) => (c.linux.personality = {}), 'linux.personality: missing required field "domain"'],
    [
      "ioPriority priority out of range",
      (c) => (c.process.ioPriority = { class: "IOPRIO_CLASS_BE", priority: 8 }),
      "process.ioPriority.priority: must be between 0 and 7",
    ],
    [
      "scheduler nice out of range",
      (c) => (c.process.scheduler = { policy: "SCHED_OTHER", nice: 20 }),
      "process.scheduler.nice: must be between -20 and 19",
    ],
    [
      "device without major",
      (c) => (c.linux.devices = [{ type: "c", path: "/dev/x", minor: 1 }]),
      'linux.devices[0]: missing required field "major" for a type "c" device',
    ],
    ["fifo device needs no numbers", (c) => (c.linux.devices = [{ type: "p", path: "/dev/fifo" }]), "ok"],
    [
      "relative device path",
      (c) => (c.linux.devices = [{ type: "c", path: "dev/x", major: 1, minor: 3 }]),
      'linux.devices[0].path: must be an absolute path, got "dev/x"',
    ],
    [
      "relative masked path",
      (c) => c.linux.maskedPaths.push("proc/x"),
      'linux.maskedPaths[10]: must be an absolute path, got "proc/x"',
    ],
    ["oomScoreAdj out of range", (c) => (c.process.oomScoreAdj = 1001), "process.oomScoreAdj: must be between -1000 and 1000"],
    [
      "other platform section",
      (c) => (c.windows = {}),
      "windows: settings for another platform; polis runs Linux containers only",
    ],
  ];
  for (const [name, edit, message, base] of cases) test(name, () => expect(check(edit, base)).toBe(message));

  // The schema catches these first in loadSpec; semantic.ts must still catch them for a Spec
  // built in code (checkSemantics is exported for that).
  test("semantic checks stand alone for the enumerated names", async () => {
    const { checkSemantics } = await import("../../src/spec/semantic.js");
    const run = (edit: (c: any) => void) => {
      const c = structuredClone(defaultSpec()) as any;
      edit(c);
      try {
        checkSemantics(c);
        return "ok";
      } catch (e) {
        return (e as Error).message;
      }
    };
    expect(run((c) => (c.process.ioPriority = { class: "IOPRIO_CLASS_FAST" }))).toBe(
      'process.ioPriority.class: unknown class "IOPRIO_CLASS_FAST"',
    );
    expect(run((c) => (c.process.scheduler = { policy: "SCHED_FAST" }))).toBe(
      'process.scheduler.policy: unknown policy "SCHED_FAST"',
    );
    expect(run((c) => (c.process.scheduler = { policy: "SCHED_RR", flags: ["SCHED_FLAG_NOPE"] }))).toBe(
      'process.scheduler.flags[0]: unknown flag "SCHED_FLAG_NOPE"',
    );
    expect(run((c) => (c.linux.personality = { domain: "LINUX64" }))).toBe('linux.personality.domain: unknown domain "LINUX64"');
    expect(run((c) => (c.linux.rootfsPropagation = "rbogus"))).toBe('linux.rootfsPropagation: unknown propagation "rbogus"');
    expect(run(() => {})).toBe("ok");
  });
});

describe("normalisation and sub-documents", () => {
  test("process.user defaults to root, like runc", () => {
    const spec = parseSpec(JSON.stringify({ ociVersion: "1.3.0", root: { path: "r" }, process: { cwd: "/", args: ["sh"] } }));
    expect(spec.process!.user).toEqual({ uid: 0, gid: 0 });
  });

  test("a config without process is valid (create will need one)", () => {
    expect(parseSpec('{"ociVersion": "1.0.0", "root": {"path": "rootfs"}}').process).toBeUndefined();
  });

  test("parseProcess: an exec --process file, errors rooted at process", () => {
    const p = parseProcess(JSON.stringify({ cwd: "/", args: ["ls"], env: ["A=b"] }));
    expect(p.args).toEqual(["ls"]);
    expect(p.user).toEqual({ uid: 0, gid: 0 });
    expect(() =>
      parseProcess(JSON.stringify({ cwd: "/", args: ["ls"], rlimits: [{ type: "RLIMIT_NOFILE", soft: "x", hard: 1 }] })),
    ).toThrow("process.rlimits[0].soft: must be an integer");
    expect(() => parseProcess(JSON.stringify({ args: ["ls"] }))).toThrow('process: missing required field "cwd"');
    expect(() => parseProcess(JSON.stringify({ cwd: "/", args: [] }))).toThrow("process.args: must not be empty");
    expect(() => parseProcess("{", "p.json")).toThrow("p.json: invalid JSON at line 1 column 2: unexpected end of input");
  });

  test("errors carry the field in detail", () => {
    try {
      validateSpec({ ociVersion: "1", root: { path: "r" }, linux: { resources: { memory: { limit: "x" } } } });
      expect.fail("no error");
    } catch (e) {
      expect((e as PolisError).detail.field).toBe("linux.resources.memory.limit");
    }
  });
});
