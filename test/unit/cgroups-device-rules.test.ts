// The v1 devices controller as a value (src/cgroups/v1/device-rules.ts): devices.list parsing,
// config.json rules applied in order, and the fewest writes from one rule set to another, with
// the kernel's semantics replayed to check that the writes really reach the target.
import { describe, expect, it } from "vitest";
import {
  ANY,
  applyDeviceLine,
  parseDevicesList,
  ruleSetMatches,
  ruleSetOf,
  transition,
  type DeviceRuleSet,
  type DeviceWrite,
} from "../../src/cgroups/v1/device-rules.js";
import { effectiveResources } from "../../src/container/cgroup.js";
import type { DeviceCgroupRule } from "../../src/spec/types.js";

const rule = (allow: boolean, type: string, major: number | null, minor: number | null, access = "rwm"): DeviceCgroupRule => ({
  allow,
  type,
  major,
  minor,
  access,
});
const denyAll: DeviceCgroupRule = { allow: false, access: "rwm" };
const allowAll: DeviceCgroupRule = { allow: true, access: "rwm" };

/** What devices.list shows for a set (the kernel lists exceptions only when it denies by default). */
function listOf(set: DeviceRuleSet): string {
  if (set.defaultAllow) return "a *:* rwm";
  const n = (v: number) => (v === ANY ? "*" : String(v));
  return [...set.exceptions.values()].map((e) => `${e.type} ${n(e.major)}:${n(e.minor)} ${e.access}`).join("\n");
}

/** The kernel taking `writes` in order, starting from `from`. */
function replay(from: DeviceRuleSet, writes: DeviceWrite[]): DeviceRuleSet {
  let set: DeviceRuleSet = { defaultAllow: from.defaultAllow, exceptions: new Map(from.exceptions) };
  for (const w of writes) set = applyDeviceLine(set, w.file === "devices.allow", w.line, w.file);
  return set;
}

/** The rules every polis container gets, as create builds them (runc's defaults after the config's own). */
const containerRules = (own?: DeviceCgroupRule[]) =>
  effectiveResources({ ociVersion: "1.0.2", linux: { resources: { devices: own } } } as never).devices!;

// devices.list of a fresh cgroup made by runc 1.1.5 for runc's default spec, on this kind of host
const RUNC_DEFAULT_LIST = [
  "b *:* m",
  "c *:* m",
  "c 1:3 rwm",
  "c 1:5 rwm",
  "c 1:7 rwm",
  "c 1:8 rwm",
  "c 1:9 rwm",
  "c 5:0 rwm",
  "c 5:2 rwm",
  "c 10:200 rwm",
  "c 136:* rwm",
].join("\n");

describe("parseDevicesList", () => {
  it("reads allow-all, deny-all and a list of exceptions", () => {
    expect(parseDevicesList("a *:* rwm\n")).toEqual({ defaultAllow: true, exceptions: new Map() });
    expect(parseDevicesList("")).toEqual({ defaultAllow: false, exceptions: new Map() });
    const set = parseDevicesList("c 1:3 rwm\nc 136:* rw\nb *:* m\n");
    expect(set.defaultAllow).toBe(false);
    expect([...set.exceptions.values()]).toEqual([
      { type: "c", major: 1, minor: 3, access: "rwm" },
      { type: "c", major: 136, minor: ANY, access: "rw" },
      { type: "b", major: ANY, minor: ANY, access: "m" },
    ]);
  });

  it("names the file and the line it cannot read", () => {
    expect(() => parseDevicesList("c 1:3 rwx", "CGROUP/devices.list")).toThrow(
      'CGROUP/devices.list: unexpected line "c 1:3 rwx"',
    );
  });
});

describe("ruleSetOf", () => {
  it("starts from deny-all, merges access and takes it away again, in order", () => {
    const set = ruleSetOf([
      rule(true, "c", 1, 3, "r"),
      rule(true, "c", 1, 3, "w"),
      rule(true, "c", 1, 5, "rwm"),
      rule(false, "c", 1, 5, "w"),
      rule(false, "c", 1, 7, "rwm"), // nothing to take away: a no-op, as in the kernel
    ]);
    expect(listOf(set)).toBe("c 1:3 rw\nc 1:5 rm");
  });

  it("an 'a' rule resets everything before it, whatever numbers it carries", () => {
    expect(ruleSetOf([rule(true, "c", 1, 3), allowAll])).toEqual({ defaultAllow: true, exceptions: new Map() });
    expect(listOf(ruleSetOf([allowAll, rule(false, "a", 1, 3, "r"), rule(true, "c", 1, 5)]))).toBe("c 1:5 rwm");
  });

  it("in allow-all mode, deny rules are the exceptions and allow rules remove them", () => {
    const set = ruleSetOf([allowAll, rule(false, "c", 1, 3), rule(false, "b", 8, ANY, "w"), rule(true, "c", 1, 3, "m")]);
    expect(set.defaultAllow).toBe(true);
    expect([...set.exceptions.values()]).toEqual([
      { type: "c", major: 1, minor: 3, access: "rw" },
      { type: "b", major: 8, minor: ANY, access: "w" },
    ]);
  });

  it("refuses to take a device out of a wildcard rule (the kernel would silently keep allowing it)", () => {
    expect(() => ruleSetOf([denyAll, rule(true, "c", null, null, "rwm"), rule(false, "c", 1, 3, "w")])).toThrow(
      "linux.resources.devices[2]: [c 1:3 w] cannot be taken out of the wider rule [c *:* rwm]",
    );
    expect(() => ruleSetOf([denyAll, rule(true, "c", 136, null, "rw"), rule(false, "c", 136, 4, "r")])).toThrow(
      /^linux.resources.devices\[2\]: .*\[c 136:\* rw\]/,
    );
    // no overlap in access, or another type: fine
    expect(listOf(ruleSetOf([rule(true, "c", null, null, "m"), rule(false, "c", 1, 3, "rw")]))).toBe("c *:* m");
    expect(listOf(ruleSetOf([rule(true, "b", null, null, "m"), rule(false, "c", 1, 3, "m")]))).toBe("b *:* m");
  });

  it("checks each rule and names it", () => {
    expect(() => ruleSetOf([denyAll, rule(true, "x", 1, 3)])).toThrow(/^linux.resources.devices\[1\].type: /);
    expect(() => ruleSetOf([rule(true, "c", 1, 3, "rwx")])).toThrow(/^linux.resources.devices\[0\].access: /);
    expect(() => ruleSetOf([rule(true, "c", -5, 3)])).toThrow(/^linux.resources.devices\[0\].major: /);
  });
});

describe("transition", () => {
  const fresh = parseDevicesList("a *:* rwm");

  it("a fresh cgroup: deny-all, then the allows in runc's order (the same devices.list as runc)", () => {
    const want = ruleSetOf(containerRules());
    const writes = transition(fresh, want);
    expect(writes[0]).toEqual({ file: "devices.deny", line: "a *:* rwm" });
    expect(writes.slice(1).every((w) => w.file === "devices.allow")).toBe(true);
    expect(
      writes
        .slice(1)
        .map((w) => w.line)
        .join("\n"),
    ).toBe(RUNC_DEFAULT_LIST);
    expect(listOf(replay(fresh, writes))).toBe(RUNC_DEFAULT_LIST);
  });

  it("a cgroup already holding the rules (a second container in it): nothing to write", () => {
    const want = ruleSetOf(containerRules());
    expect(transition(parseDevicesList(RUNC_DEFAULT_LIST), want)).toEqual([]);
    // in whatever order the kernel lists them (an older polis wrote them in config order)
    const shuffled = RUNC_DEFAULT_LIST.split("\n").reverse().join("\n");
    expect(transition(parseDevicesList(shuffled), want)).toEqual([]);
  });

  it("whitelist to whitelist: only what changes, drops first, and never a reset", () => {
    const from = parseDevicesList("c 1:3 rwm\nc 1:5 rwm\nc 10:229 rw\nc 136:* rwm");
    const want = ruleSetOf([
      denyAll,
      rule(true, "c", 1, 3),
      rule(true, "c", 1, 5, "r"),
      rule(true, "c", 136, null),
      rule(true, "c", 1, 9),
    ]);
    expect(transition(from, want)).toEqual([
      { file: "devices.deny", line: "c 1:5 wm" },
      { file: "devices.deny", line: "c 10:229 rw" },
      { file: "devices.allow", line: "c 1:9 rwm" },
    ]);
    expect(ruleSetMatches(replay(from, transition(from, want)), want)).toBe(true);
  });

  it("whitelist to allow-all: one allow 'a'; allow-all to allow-all with denies: reset, then the denies", () => {
    const from = parseDevicesList("c 1:3 rwm");
    const toAll = ruleSetOf([allowAll]);
    expect(transition(from, toAll)).toEqual([{ file: "devices.allow", line: "a *:* rwm" }]);
    // devices.list does not show the deny exceptions of an allow-all cgroup: start over
    const black = ruleSetOf([allowAll, rule(false, "c", 10, 229)]);
    expect(transition(fresh, black)).toEqual([
      { file: "devices.allow", line: "a *:* rwm" },
      { file: "devices.deny", line: "c 10:229 rwm" },
    ]);
  });

  it("to deny-all: one deny 'a', even from a list (nothing is left to allow)", () => {
    expect(transition(parseDevicesList("c 1:3 rwm"), ruleSetOf([denyAll]))).toEqual([
      { file: "devices.deny", line: "c 1:3 rwm" },
    ]);
    expect(transition(fresh, ruleSetOf([denyAll]))).toEqual([{ file: "devices.deny", line: "a *:* rwm" }]);
  });

  it("random rule sets: the writes reach the target, and a whitelist never loses what both allow", () => {
    let seed = 12345;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const pick = <T>(xs: T[]): T => xs[rand(xs.length)];
    const randomRules = (): DeviceCgroupRule[] => {
      const out: DeviceCgroupRule[] = [pick([denyAll, denyAll, denyAll, allowAll])];
      for (let i = rand(8); i > 0; i--) {
        // exact devices only after the start: wildcards would make some removals refused (tested above)
        out.push(
          rule(rand(4) > 0, pick(["b", "c"]), pick([1, 5, 10]), pick([3, 5, 229]), pick(["r", "w", "m", "rw", "rwm", "wm"])),
        );
      }
      return out;
    };
    for (let round = 0; round < 500; round++) {
      const before = ruleSetOf(randomRules());
      const from = parseDevicesList(listOf(before)); // what the cgroup shows
      const want = ruleSetOf(randomRules());
      const writes = transition(from, want);
      const after = replay(before, writes);
      expect(ruleSetMatches(parseDevicesList(listOf(after)), want)).toBe(true);
      if (!from.defaultAllow && !want.defaultAllow) {
        expect(writes.some((w) => w.line.startsWith("a "))).toBe(false);
        // every intermediate state still grants what both the old and the new rules grant
        let mid = from;
        for (const w of writes) {
          mid = applyDeviceLine(mid, w.file === "devices.allow", w.line, w.file);
          for (const [key, e] of want.exceptions) {
            const kept = [...(from.exceptions.get(key)?.access ?? "")].filter((c) => e.access.includes(c));
            for (const c of kept) expect(mid.exceptions.get(key)?.access ?? "").toContain(c);
          }
        }
      }
    }
  });
});

describe("ruleSetMatches", () => {
  it("compares exceptions of a whitelist, only the default of an allow-all cgroup", () => {
    const want = ruleSetOf([denyAll, rule(true, "c", 1, 3)]);
    expect(ruleSetMatches(parseDevicesList("c 1:3 rwm"), want)).toBe(true);
    expect(ruleSetMatches(parseDevicesList("c 1:3 rw"), want)).toBe(false);
    expect(ruleSetMatches(parseDevicesList("c 1:3 rwm\nc 1:5 r"), want)).toBe(false);
    expect(ruleSetMatches(parseDevicesList("a *:* rwm"), want)).toBe(false);
    expect(ruleSetMatches(parseDevicesList("a *:* rwm"), ruleSetOf([allowAll, rule(false, "c", 1, 3)]))).toBe(true);
  });
});
