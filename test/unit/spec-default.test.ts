// `polis spec` must produce what `runc spec` does (except ociVersion), and features must be a
// valid features document built from the same tables as validation.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Ajv } from "ajv";
import { afterAll, describe, expect, test } from "vitest";
import { defaultSpec, writeDefaultSpec } from "../../src/spec/default.js";
import { features } from "../../src/spec/features.js";
import { validateFeatures } from "../../src/spec/generated/validate-config.js";
import { loadSpec, validateSpec } from "../../src/spec/load.js";
import {
  CAPABILITIES,
  MOUNT_OPTIONS,
  NAMESPACE_TYPES,
  RLIMITS,
  SCHED_FLAGS,
  SCHED_POLICIES,
  SECCOMP_ACTIONS,
  SECCOMP_ARCHS,
  SECCOMP_FLAGS,
  SECCOMP_OPERATORS,
  IOPRIO_CLASSES,
  PERSONALITY_DOMAINS,
  ROOTFS_PROPAGATIONS,
} from "../../src/spec/names.js";
import { OCI_VERSION, type Spec } from "../../src/spec/types.js";
import { checkLsm } from "../../src/spec/semantic.js";
import { parseMountOptions } from "../../src/linux/mounts.js";
import { compileSeccomp } from "../../src/seccomp/compile.js";
import { seccompSupport } from "../../src/seccomp/support.js";
import { REPO } from "../helpers/rootfs.js";
import { lacking } from "../helpers/host.js";

/** The upstream runtime-spec schemas, copied into the repository (see its SOURCE.md). */
const SPEC_FIXTURES = join(REPO, "test", "fixtures", "runtime-spec-v1.3");
const tmp = mkdtempSync(join(tmpdir(), "polis-spec-default-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const runcPath = ["/usr/bin/runc", "/usr/sbin/runc", "/usr/local/bin/runc", "/usr/local/sbin/runc"].find(existsSync);
if (!runcPath) lacking("`polis spec` vs `runc spec`", { packages: ["runc"] }); // logs the skip; an error in CI

function runcSpec(args: string[]): any {
  const dir = mkdtempSync(join(tmp, "runc-"));
  execFileSync(runcPath!, ["spec", ...args], { cwd: dir });
  return JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
}

describe("defaultSpec", () => {
  for (const rootless of [false, true]) {
    const label = rootless ? "runc spec --rootless" : "runc spec";
    test.skipIf(!runcPath)(`equals \`${label}\` except ociVersion (skipped if runc is not installed)`, () => {
      const theirs = runcSpec(rootless ? ["--rootless"] : []);
      const ours = structuredClone(defaultSpec({ rootless })) as any;
      expect(ours.ociVersion).toBe(OCI_VERSION);
      delete theirs.ociVersion;
      delete ours.ociVersion;
      expect(ours).toStrictEqual(theirs);
      // key order too, so `diff` between the two files shows only the version
      expect(JSON.stringify(ours)).toBe(JSON.stringify(theirs));
    });
  }

  test("both variants pass polis's own validation", () => {
    expect(() => validateSpec(defaultSpec())).not.toThrow();
    expect(() => validateSpec(defaultSpec({ rootless: true }))).not.toThrow();
  });

  test("rootless maps the caller's ids", () => {
    const s = defaultSpec({ rootless: true });
    expect(s.linux!.uidMappings).toEqual([{ containerID: 0, hostID: process.geteuid!(), size: 1 }]);
    expect(s.linux!.gidMappings).toEqual([{ containerID: 0, hostID: process.getegid!(), size: 1 }]);
    expect(s.linux!.namespaces!.map((n) => n.type)).not.toContain("network");
  });

  test("every call returns a fresh object", () => {
    const a = defaultSpec();
    a.process!.capabilities!.bounding!.push("CAP_SYS_ADMIN");
    expect(defaultSpec().process!.capabilities!.bounding).toHaveLength(3);
  });
});

describe("writeDefaultSpec", () => {
  test("writes a loadable config.json, tab-indented like runc", () => {
    const dir = mkdtempSync(join(tmp, "w-"));
    const file = writeDefaultSpec(dir);
    expect(file).toBe(join(dir, "config.json"));
    expect(readFileSync(file, "utf8")).toMatch(/^\{\n\t"ociVersion": "1\.3\.0",/);
    expect(loadSpec(dir)).toEqual(defaultSpec());
  });

  test("refuses to overwrite, with runc's message, and leaves the file alone", () => {
    const dir = mkdtempSync(join(tmp, "w-"));
    writeFileSync(join(dir, "config.json"), "mine");
    expect(() => writeDefaultSpec(dir)).toThrow("File config.json exists. Remove it first");
    expect(readFileSync(join(dir, "config.json"), "utf8")).toBe("mine");
  });

  test("missing directory reports the errno", () => {
    expect(() => writeDefaultSpec(join(tmp, "missing"))).toThrow(/^config\.json: cannot write .*\(ENOENT\)$/);
  });
});

describe("features", () => {
  test("is valid for polis's schema and upstream's", () => {
    const doc = features({ "org.example.version": "1" });
    expect(validateFeatures(doc)).toBe(true);
    const ajv = new Ajv({ strict: false });
    const up = SPEC_FIXTURES;
    for (const f of ["defs.json", "defs-linux.json", "features-linux.json", "features-schema.json"]) {
      const s = JSON.parse(readFileSync(join(up, f), "utf8"));
      delete s.$schema;
      ajv.addSchema(s, f);
    }
    expect(ajv.validate("features-schema.json", doc), JSON.stringify(ajv.errors)).toBe(true);
  });

  test("lists what validation accepts", () => {
    const f = features();
    expect(f.ociVersionMax).toBe(OCI_VERSION);
    expect(f.linux.capabilities).toHaveLength(41);
    expect(f.linux.capabilities).toEqual(Object.keys(CAPABILITIES));
    expect(f.linux.namespaces).toEqual(["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"]);
    expect(f.hooks).toEqual(["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"]);
    // every option runc 1.1 advertises but tmpcopyup (not implemented), plus the 1.2-era recursive ones
    const runcOptions = JSON.parse(readFileSync(join(SPEC_FIXTURES, "test/features/good/runc.json"), "utf8"))
      .mountOptions as string[];
    for (const o of runcOptions.filter((o) => o !== "tmpcopyup")) expect(f.mountOptions).toContain(o);
    for (const o of ["rro", "rnosymfollow", "rbind"]) expect(f.mountOptions).toContain(o);
    expect(f.annotations).toBeUndefined();
  });
});

describe("features tells the truth", () => {
  const f = features();

  test("every mount option listed is implemented by the planner; the others are not listed", () => {
    for (const o of f.mountOptions) {
      const parsed = parseMountOptions([o], "mounts[0].options");
      // implemented = turned into flags/propagation/attributes, not handed to mount(2) as data
      expect({ o, data: parsed.data }).toEqual({ o, data: "" });
    }
    const unlisted = Object.keys(MOUNT_OPTIONS)
      .filter((o) => !f.mountOptions.includes(o))
      .sort();
    expect(unlisted).toEqual(["idmap", "ridmap", "tmpcopyup"]);
    expect(() => parseMountOptions(["idmap"], "mounts[0].options")).toThrow(/not supported/);
    expect(parseMountOptions(["tmpcopyup"], "mounts[0].options").data).toBe("tmpcopyup");
    expect(f.linux.mountExtensions.idmap.enabled).toBe(false);
  });

  test("apparmor and selinux are off, and checkLsm refuses what they would configure", () => {
    expect(f.linux.apparmor.enabled).toBe(false);
    expect(f.linux.selinux.enabled).toBe(false);
    const spec = {
      ociVersion: "1.0.2",
      root: { path: "rootfs" },
      process: { cwd: "/", args: ["true"], user: { uid: 0, gid: 0 }, apparmorProfile: "p" },
    } as Spec;
    expect(() => checkLsm(spec, { apparmor: false, selinux: false })).toThrow(
      "process.apparmorProfile: apparmor is not enabled on this host",
    );
    expect(() => checkLsm(spec, { apparmor: true, selinux: false })).toThrow(
      "process.apparmorProfile: apparmor profiles are not supported by polis",
    );
    const labelled = { ...spec, process: { ...spec.process!, apparmorProfile: undefined, selinuxLabel: "l" } } as Spec;
    expect(() => checkLsm(labelled, { apparmor: false, selinux: false })).toThrow(
      "process.selinuxLabel: selinux is not enabled on this host",
    );
    const mountLabel = { ...spec, process: { ...spec.process!, apparmorProfile: "" }, linux: { mountLabel: "m" } } as Spec;
    expect(() => checkLsm(mountLabel, { apparmor: false, selinux: true })).toThrow(
      "linux.mountLabel: selinux labels are not supported by polis",
    );
    // nothing set: the host is not even probed
    expect(() =>
      checkLsm({ ...spec, process: { ...spec.process!, apparmorProfile: undefined } } as Spec, undefined),
    ).not.toThrow();
  });

  test("seccomp lists only what this libseccomp and kernel accept", () => {
    const s = f.linux.seccomp;
    expect(s.enabled).toBe(true);
    // every action polis knows works on this kernel (6.x); compileSeccomp accepts each listed arch
    expect(s.actions).toEqual(Object.keys(SECCOMP_ACTIONS).sort());
    for (const arch of s.archs) {
      expect(() => compileSeccomp({ defaultAction: "SCMP_ACT_ALLOW", architectures: [arch] })).not.toThrow();
    }
    // libseccomp 2.5 does not know loongarch64, and cannot mix big-endian archs into an x86_64
    // filter (EDOM): none of those may be advertised
    for (const arch of Object.keys(SECCOMP_ARCHS).filter((a) => !s.archs.includes(a))) {
      expect(() => compileSeccomp({ defaultAction: "SCMP_ACT_ALLOW", architectures: [arch] })).toThrow(
        /not supported by this libseccomp|EDOM/,
      );
    }
    expect(s.archs).not.toContain("SCMP_ARCH_LOONGARCH64");
    if (process.arch === "x64")
      expect(s.archs).toEqual(expect.arrayContaining(["SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32"]));
    for (const flag of s.supportedFlags) expect(s.knownFlags).toContain(flag);
    expect(s.supportedFlags).toContain("SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV");
  });

  test("a probe that finds no kernel support says so, and rdma follows the host's controllers", () => {
    const none = features(undefined, {
      seccomp: () => seccompSupport({ ...fakeLib, seccomp: () => -1, errno: () => 22 }),
      controllers: () => new Set(["rdma", "memory"]),
    });
    expect(none.linux.seccomp.actions).toEqual([]);
    expect(none.linux.seccomp.supportedFlags).toEqual([]);
    expect(none.linux.cgroup.rdma).toBe(true);
    expect(features(undefined, { controllers: () => new Set(["memory"]) }).linux.cgroup.rdma).toBe(false);
  });
});

const fakeLib = {
  init: () => ({}),
  release: () => {},
  archResolveName: () => 1,
  archAdd: () => 0,
  syscallResolveName: () => 0,
  ruleAddArray: () => 0,
  attrSet: () => 0,
  exportBpf: () => 0,
  memfdCreate: () => -1,
  seccomp: () => 0,
  errno: () => 0,
};

describe("name tables agree with the schemas", () => {
  const schema = (f: string) => JSON.parse(readFileSync(new URL(`../../schemas/${f}`, import.meta.url), "utf8"));
  const defsLinux = schema("defs-linux.json").definitions;
  const config = schema("config.json");
  const configLinux = schema("config-linux.json");
  const keys = (t: object) => Object.keys(t).sort();

  test("enums", () => {
    expect([...defsLinux.seccompAction.enum].sort()).toEqual(keys(SECCOMP_ACTIONS));
    expect([...defsLinux.seccompOperator.enum].sort()).toEqual(keys(SECCOMP_OPERATORS));
    expect([...defsLinux.seccompArch.enum].sort()).toEqual(keys(SECCOMP_ARCHS));
    expect([...defsLinux.seccompFlag.enum].sort()).toEqual(keys(SECCOMP_FLAGS));
    expect([...defsLinux.schedulerPolicy.enum].sort()).toEqual(keys(SCHED_POLICIES));
    expect([...defsLinux.schedulerFlag.enum].sort()).toEqual(keys(SCHED_FLAGS));
    expect([...config.properties.process.properties.ioPriority.properties.class.enum].sort()).toEqual(keys(IOPRIO_CLASSES));
    expect([...configLinux.properties.personality.properties.domain.enum].sort()).toEqual(keys(PERSONALITY_DOMAINS));
    expect([...configLinux.properties.rootfsPropagation.enum].sort()).toEqual([...ROOTFS_PROPAGATIONS].sort());
    expect(keys(NAMESPACE_TYPES)).toEqual(
      JSON.parse(readFileSync(join(SPEC_FIXTURES, "defs-linux.json"), "utf8")).definitions.NamespaceType.enum.sort(),
    );
  });

  test("numbers", () => {
    expect(Object.values(CAPABILITIES)).toEqual([...Array(41).keys()]);
    expect(Object.values(RLIMITS)).toEqual([...Array(16).keys()]);
    expect(RLIMITS.RLIMIT_NOFILE).toBe(7);
    expect(NAMESPACE_TYPES.mount).toBe(0x20000);
    expect(NAMESPACE_TYPES.time).toBe(0x80);
    expect(MOUNT_OPTIONS.rbind).toEqual({ kind: "extension", name: "rbind" });
    expect(MOUNT_OPTIONS.rw).toEqual({ kind: "flag", clear: true, flag: 1 });
    expect(MOUNT_OPTIONS.rprivate).toEqual({ kind: "propagation", flag: 0x40000 | 0x4000 });
  });
});
