// Nothing polis does on behalf of a container may write outside its rootfs (issue 8, the Node
// side): hooks' working directory, the pid file, /etc/passwd lookups, device rules, long ids.
// Each case plants what an attacker would and checks the host from outside.
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { polis, polisOk, tempRoot, uniqueId } from "../helpers/polis.js";
import { busyboxBundle } from "../helpers/rootfs.js";

const root = tempRoot();
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("hooks", () => {
  it("createContainer hooks run in the rootfs, not the host's /; hooks without env inherit as runc's", () => {
    const id = uniqueId("hookcwd");
    const probe = `polis-hook-probe-${id}`;
    let rootfs = "";
    const bundle = busyboxBundle((c) => {
      c.process.env.push("FROM_PROCESS=yes");
      c.hooks = {
        prestart: [{ path: "/bin/sh", args: ["sh", "-c", "pwd > prestart.cwd; env > prestart.env"] }],
        // a relative write: runc's hook lands in the rootfs (it chdirs there first), not in the host's /etc
        createContainer: [{ path: "/bin/sh", args: ["sh", "-c", `pwd > ${probe}.cwd; env > ${probe}.env; touch ./etc/${probe}`] }],
      };
    });
    rootfs = join(bundle, "rootfs");
    try {
      polisOk(root, ["create", "--bundle", bundle, id], { cwd: "/", env: { POLIS_HOOK_PROBE: "from-polis" } });
      expect(existsSync(join("/etc", probe))).toBe(false);
      expect(existsSync(join(rootfs, "etc", probe))).toBe(true);
      expect(readFileSync(join(rootfs, `${probe}.cwd`), "utf8").trim()).toBe(rootfs);
      // runc: an in-container hook gets the container process's environment
      expect(readFileSync(join(rootfs, `${probe}.env`), "utf8").split("\n")).toContain("FROM_PROCESS=yes");
      // runc: host-side hooks run in the bundle with runc's own environment
      expect(readFileSync(join(bundle, "prestart.cwd"), "utf8").trim()).toBe(bundle);
      expect(readFileSync(join(bundle, "prestart.env"), "utf8").split("\n")).toContain("POLIS_HOOK_PROBE=from-polis");
    } finally {
      polis(root, ["delete", "--force", id]);
      rmSync(join("/etc", probe), { force: true });
      rmSync(bundle, { recursive: true, force: true });
    }
  });
});
