// Slightly-off input runc accepts (it reads JSON keys case-insensitively and keeps the r, w, m
// of a device rule's access): accepted as runc reads it, with a warning naming the field.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { acceptResourcesLeniency, acceptRuncLeniency } from "../../src/spec/lenient.js";
import { validateSpec } from "../../src/spec/load.js";
import { REPO } from "../helpers/rootfs.js";

const base = () => JSON.parse(readFileSync(join(REPO, "test", "fixtures", "runc-default-config.json"), "utf8"));

describe("runc's leniency", () => {
  it("hugepage limits spelled pagesize are read as pageSize, with a warning", () => {
    const warnings: string[] = [];
    const res = {
      hugepageLimits: [
        { pagesize: "2MB", limit: 1 },
        { pageSize: "1GB", limit: 2 },
      ],
    };
    acceptResourcesLeniency(res, (m) => warnings.push(m));
    expect(res.hugepageLimits).toEqual([
      { pageSize: "2MB", limit: 1 },
      { pageSize: "1GB", limit: 2 },
    ]);
    expect(warnings).toEqual([
      'linux.resources.hugepageLimits[0].pagesize: read as "pageSize" (the spec\'s spelling), as runc does',
    ]);
  });

  it("device access keeps r, w and m and drops other letters, with a warning", () => {
    const warnings: string[] = [];
    const res = {
      devices: [
        { allow: true, access: "rwmx" },
        { allow: true, access: "rw rm" },
        { allow: true, access: "rrw" },
        { allow: true, access: "rwm" },
        { allow: true, access: "RW" },
      ],
    };
    acceptResourcesLeniency(res, (m) => warnings.push(m));
    expect(res.devices.map((d) => d.access)).toEqual(["rwm", "rwm", "rw", "rwm", "RW"]);
    expect(warnings).toEqual([
      'linux.resources.devices[0].access: "rwmx" has letters other than r, w and m; using "rwm" as runc does',
      'linux.resources.devices[1].access: "rw rm" has letters other than r, w and m; using "rwm" as runc does',
    ]);
  });

  it("a whole config with both loads (the schema alone would refuse pagesize)", () => {
    const c = base();
    c.linux.resources = { devices: [{ allow: false, access: "rwmx" }], hugepageLimits: [{ pagesize: "2MB", limit: 4194304 }] };
    const spec = validateSpec(structuredClone(c));
    expect(spec.linux!.resources!.hugepageLimits).toEqual([{ pageSize: "2MB", limit: 4194304 }]);
    expect(spec.linux!.resources!.devices![0].access).toBe("rwm");
    const untouched = base();
    acceptRuncLeniency(untouched, () => {
      throw new Error("no warning expected");
    });
    expect(untouched).toEqual(base());
  });
});
