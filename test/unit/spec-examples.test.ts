// polis's own schemas (schemas/*.json, precompiled into src/spec/generated/) against the upstream
// runtime-spec 1.3 material in test/fixtures/runtime-spec-v1.3 (a copy; see its SOURCE.md): the example documents,
// and the upstream schemas themselves on a corpus of generated documents.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { Ajv } from "ajv";
import { describe, expect, test } from "vitest";
import { validateConfig, validateFeatures, validateState } from "../../src/spec/generated/validate-config.js";
import { defaultSpec } from "../../src/spec/default.js";
import { parseSpec, validateSpec } from "../../src/spec/load.js";
import { REPO } from "../helpers/rootfs.js";

const UPSTREAM = join(REPO, "test", "fixtures", "runtime-spec-v1.3"); // see its SOURCE.md
const read = (path: string) => readFileSync(path, "utf8");
const examples = (kind: string, verdict: "good" | "bad") =>
  readdirSync(join(UPSTREAM, "test", kind, verdict)).map((f) => ({
    name: f,
    text: read(join(UPSTREAM, "test", kind, verdict, f)),
  }));

/**
 * The upstream schemas are draft-04. The only draft-04-specific construct they use is the
 * `$schema` URI itself (no boolean exclusiveMinimum, no `id`), so ajv's default draft compiles
 * them unchanged once `$schema` is dropped: no ajv-draft-04 dependency needed.
 */
function upstreamAjv() {
  const ajv = new Ajv({ strict: false, allErrors: false, validateFormats: false });
  for (const f of readdirSync(UPSTREAM).filter((f) => f.endsWith(".json"))) {
    const schema = JSON.parse(read(join(UPSTREAM, f)));
    delete schema.$schema;
    ajv.addSchema(schema, f);
  }
  return ajv;
}
const upstream = upstreamAjv();
const upstreamConfig = upstream.getSchema("config-schema.json")!;
const upstreamState = upstream.getSchema("state-schema.json")!;
const upstreamFeatures = upstream.getSchema("features-schema.json")!;

// Other-platform examples: polis is a Linux runtime, and a config carrying a freebsd/zos/windows/
// solaris section asks for things it cannot do, so they are rejected with a message naming the
// section instead of being half-honoured. (The upstream "bad" freebsd example is thus rejected
// too, though for that reason rather than its bad jail.vnet value, which polis does not model.)
const OTHER_PLATFORM = /^(freebsd|zos|windows|solaris)-/;

describe("upstream config examples", () => {
  for (const { name, text } of examples("config", "good")) {
    if (OTHER_PLATFORM.test(name)) {
      test(`good/${name} (another platform) is rejected, naming its section`, () => {
        const section = name.split("-")[0];
        expect(() => parseSpec(text)).toThrow(`${section}: settings for another platform; polis runs Linux containers only`);
        // …but it is well-formed as far as the shared parts of the schema go
        expect(validateConfig(JSON.parse(text))).toBe(true);
      });
    } else {
      test(`good/${name} is accepted`, () => {
        expect(() => parseSpec(text)).not.toThrow();
      });
    }
  }

  const expected: Record<string, string> = {
    "invalid-json.json": "config.json: invalid JSON at line 1 column 2: expected a double-quoted property name",
    "linux-hugepage.json": "linux.resources.hugepageLimits[0].pageSize: must match the pattern ^[1-9][0-9]*[KMG]B$",
    "linux-netdevice.json": "linux.netDevices.eth0.name: must be a string",
    "linux-rdma.json": "linux.resources.rdma.mlx5_1.hcaHandles: must be an integer",
    "freebsd-vnet-disable.json": "freebsd: settings for another platform; polis runs Linux containers only",
  };
  for (const { name, text } of examples("config", "bad")) {
    test(`bad/${name} is rejected`, () => {
      expect(expected[name], `no expected message for new example ${name}`).toBeDefined();
      expect(() => parseSpec(text)).toThrow(expected[name]);
    });
  }
});

describe("upstream state and features examples", () => {
  test("state examples", () => {
    for (const { text } of examples("state", "good")) expect(validateState(JSON.parse(text))).toBe(true);
    for (const { text } of examples("state", "bad")) expect(() => JSON.parse(text)).toThrow();
  });
  test("features examples", () => {
    for (const { text } of examples("features", "good")) expect(validateFeatures(JSON.parse(text))).toBe(true);
    for (const { text } of examples("features", "bad")) expect(validateFeatures(JSON.parse(text))).toBe(false);
  });
});

// ---- cross-check on a generated corpus ---------------------------------------------------------

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Every path to a value in `doc`, as key lists. */
function paths(doc: Json, prefix: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [];
  if (Array.isArray(doc)) for (const [i, v] of doc.entries()) out.push([...prefix, i], ...paths(v, [...prefix, i]));
  else if (doc && typeof doc === "object") {
    for (const [k, v] of Object.entries(doc)) out.push([...prefix, k], ...paths(v, [...prefix, k]));
  }
  return out;
}

function mutate(doc: Json, path: (string | number)[], value: Json | undefined): Json {
  const copy = structuredClone(doc) as any;
  let node = copy;
  for (const k of path.slice(0, -1)) node = node[k];
  const last = path[path.length - 1]!;
  if (value === undefined) {
    if (Array.isArray(node)) node.splice(last as number, 1);
    else delete node[last];
  } else node[last] = value;
  return copy;
}

const REPLACEMENTS: (Json | undefined)[] = [
  undefined,
  "x",
  "",
  1.5,
  -1,
  0,
  7,
  4294967296,
  2 ** 62,
  -(2 ** 62),
  true,
  null,
  {},
  [],
  ["x"],
  [7],
  { a: "b" },
];

/**
 * Where polis's schema deliberately accepts what upstream's rejects: these names are checked by
 * src/spec/semantic.ts instead, so the message can say `unknown rlimit "RLIMIT_FOO"`.
 */
const LOOSER = [/^process\.rlimits\.\d+\.type$/, /^linux\.namespaces\.\d+\.type$/];
/** Where polis's schema is deliberately stricter: map keys must not be empty (annotations etc.). */
const STRICTER: RegExp[] = [];

describe("cross-check against the upstream schema", () => {
  const seeds: Record<string, Json> = {
    "spec-example": JSON.parse(read(join(UPSTREAM, "test/config/good/spec-example.json"))),
    "runc spec": defaultSpec() as unknown as Json,
    "runc spec --rootless": defaultSpec({ rootless: true }) as unknown as Json,
    extras: {
      ociVersion: "1.3.0",
      root: { path: "rootfs" },
      process: {
        cwd: "/",
        args: ["sh"],
        user: { uid: 0, gid: 0, umask: 18, username: "root" },
        consoleSize: { height: 24, width: 80 },
        ioPriority: { class: "IOPRIO_CLASS_BE", priority: 4 },
        scheduler: { policy: "SCHED_OTHER", nice: 1, flags: ["SCHED_FLAG_RESET_ON_FORK"] },
        execCPUAffinity: { initial: "0-1", final: "0" },
        oomScoreAdj: 5,
      },
      mounts: [
        {
          destination: "/m",
          source: "/s",
          type: "none",
          options: ["bind", "idmap"],
          uidMappings: [{ containerID: 0, hostID: 1, size: 2 }],
          gidMappings: [{ containerID: 0, hostID: 1, size: 2 }],
        },
      ],
      linux: {
        personality: { domain: "LINUX", flags: [] },
        memoryPolicy: { mode: "MPOL_BIND", nodes: "0", flags: ["MPOL_F_STATIC_NODES"] },
        intelRdt: { closID: "x", memBwSchema: "MB:0=20" },
        resources: { unified: { "memory.max": "1000" }, pids: { limit: 5 }, cpu: { idle: 1 } },
        seccomp: {
          defaultAction: "SCMP_ACT_ERRNO",
          defaultErrnoRet: 1,
          flags: ["SECCOMP_FILTER_FLAG_LOG"],
          syscalls: [
            { names: ["read"], action: "SCMP_ACT_ALLOW", args: [{ index: 0, value: 1, valueTwo: 2, op: "SCMP_CMP_EQ" }] },
          ],
        },
      },
    },
  };

  for (const [seedName, seed] of Object.entries(seeds)) {
    test(`${seedName}: same verdict as upstream for every single-field mutation`, () => {
      expect(upstreamConfig(seed)).toBe(true);
      expect(validateConfig(seed)).toBe(true);
      let compared = 0;
      for (const path of paths(seed)) {
        const dotted = path.join(".");
        for (const value of REPLACEMENTS) {
          const doc = mutate(seed, path, value);
          const theirs = upstreamConfig(doc) as boolean;
          const ours = validateConfig(doc);
          compared++;
          if (theirs === ours) continue;
          const why = `${seedName}: ${dotted} := ${JSON.stringify(value)} upstream=${theirs} polis=${ours}`;
          if (ours && LOOSER.some((re) => re.test(dotted))) {
            // the semantic checks must then catch it
            expect(() => validateSpec(structuredClone(doc)), why).toThrow(/unknown (rlimit|namespace type)/);
            continue;
          }
          if (!ours && STRICTER.some((re) => re.test(dotted))) continue;
          expect.fail(why);
        }
      }
      expect(compared).toBeGreaterThan(100);
    });
  }

  test("annotations with an empty key: polis rejects, upstream accepts (the spec says keys MUST NOT be empty)", () => {
    const doc = { ociVersion: "1.3.0", root: { path: "r" }, annotations: { "": "x" } };
    expect(upstreamConfig(doc)).toBe(true);
    expect(validateConfig(doc)).toBe(false);
    expect(() => validateSpec(doc)).toThrow("annotations: keys must not be empty");
  });

  test("state: polis documents pass upstream's schema, and runc's `paused` is accepted too", () => {
    const state = {
      ociVersion: "1.3.0",
      id: "c1",
      status: "running",
      pid: 42,
      bundle: "/b",
      rootfs: "/b/rootfs",
      created: "2024-01-01T00:00:00.000000000Z",
      owner: "",
    };
    expect(upstreamState(state)).toBe(true);
    expect(validateState(state)).toBe(true);
    expect(upstreamState({ ...state, status: "paused" })).toBe(false); // upstream lacks it
    expect(validateState({ ...state, status: "paused" })).toBe(true);
    expect(validateState({ ...state, status: "zombie" })).toBe(false);
    expect(validateState({ ...state, pid: -1 })).toBe(false);
    const { bundle: _b, ...noBundle } = state;
    expect(validateState(noBundle)).toBe(false);
  });

  test("features examples: same verdict as upstream", () => {
    for (const verdict of ["good", "bad"] as const) {
      for (const { text } of examples("features", verdict)) {
        const doc = JSON.parse(text);
        expect(validateFeatures(doc)).toBe(upstreamFeatures(doc));
      }
    }
  });
});
