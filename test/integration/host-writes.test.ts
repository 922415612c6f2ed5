// Nothing polis does on behalf of a container may write outside its rootfs (issue 8, the Node
// side): hooks' working directory, the pid file, /etc/passwd lookups, device rules, long ids.
// Each case plants what an attacker would and checks the host from outside.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cgroupDirsNamed, polis, polisOk, tempRoot, uniqueId, waitFor } from "../helpers/polis.js";
import { runScript, withRunning } from "../helpers/containers.js";
import { Store } from "../../src/state/store.js";
import { busyboxBundle } from "../helpers/rootfs.js";
import { insertCreatingRow } from "../helpers/store.js";

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
        createContainer: [
          { path: "/bin/sh", args: ["sh", "-c", `pwd > ${probe}.cwd; env > ${probe}.env; touch ./etc/${probe}`] },
        ],
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

describe("HOME from the container's /etc/passwd", () => {
  it("is read inside the rootfs, never through an absolute symlink on the host (create and exec)", async () => {
    const id = uniqueId("home");
    // the same absolute path on the host and inside the rootfs, with different homes
    const linkTarget = `/tmp/polis-home-${id}/passwd`;
    mkdirSync(dirname(linkTarget), { recursive: true });
    writeFileSync(linkTarget, "root:x:0:0:root:/HOST-LEAK:/bin/sh\n");
    const bundle = busyboxBundle((c) => {
      c.process.env = c.process.env.filter((e: string) => !e.startsWith("HOME="));
      c.root.readonly = false;
      c.process.args = ["sh", "-c", 'echo "$HOME" > /init-home; exec sleep 1000'];
    });
    const rootfs = join(bundle, "rootfs");
    mkdirSync(join(rootfs, dirname(linkTarget)), { recursive: true });
    writeFileSync(join(rootfs, linkTarget), "root:x:0:0:root:/inside:/bin/sh\nbob:x:1000:1000::/home/bob:/bin/sh\n");
    rmSync(join(rootfs, "etc", "passwd"));
    symlinkSync(linkTarget, join(rootfs, "etc", "passwd"));
    try {
      polisOk(root, ["run", "--detach", "--bundle", bundle, id]);
      await waitFor(
        () => existsSync(join(rootfs, "init-home")) && readFileSync(join(rootfs, "init-home"), "utf8").endsWith("\n"),
      );
      expect(readFileSync(join(rootfs, "init-home"), "utf8")).toBe("/inside\n");
      expect(polisOk(root, ["exec", id, "sh", "-c", "echo $HOME"]).stdout).toBe("/inside\n");
      expect(polisOk(root, ["exec", "--user", "1000", id, "sh", "-c", "echo $HOME"]).stdout).toBe("/home/bob\n");
      // runc: a user without a passwd entry gets "/"
      expect(polisOk(root, ["exec", "--user", "4242", id, "sh", "-c", "echo $HOME"]).stdout).toBe("/\n");
      // an explicit HOME is kept
      expect(polisOk(root, ["exec", "--env", "HOME=/mine", id, "sh", "-c", "echo $HOME"]).stdout).toBe("/mine\n");
    } finally {
      polis(root, ["delete", "--force", id]);
      rmSync(dirname(linkTarget), { recursive: true, force: true });
      rmSync(bundle, { recursive: true, force: true });
    }
  });
});

describe("HOME with a passwd file bound over the rootfs's", () => {
  it("comes from the bound file, which is what the container sees (runc reads it after the mounts)", () => {
    const dir = mkdtempSync(join(tmpdir(), "polis-passwd-"));
    writeFileSync(join(dir, "passwd"), "root:x:0:0:root:/from-bind:/bin/sh\n");
    try {
      const r = runScript(root, 'echo "$HOME"; grep ^root /etc/passwd', (c) => {
        c.process.env = c.process.env.filter((e: string) => !e.startsWith("HOME="));
        c.mounts.push({ destination: "/etc/passwd", type: "bind", source: join(dir, "passwd"), options: ["rbind", "ro"] });
      });
      expect(r.stderr).toBe("");
      expect(r.stdout).toBe("/from-bind\nroot:x:0:0:root:/from-bind:/bin/sh\n");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the device cgroup", () => {
  const kmsg = { path: "/dev/kmsg", type: "c", major: 1, minor: 11, fileMode: 0o666, uid: 0, gid: 0 };
  const write = "echo polis-device-test > /dev/kmsg && echo written || echo refused";

  it("a deny-all in linux.resources.devices holds for linux.devices entries too (runc adds no rule for them)", () => {
    const r = runScript(root, write, (c) => {
      c.linux.devices = [kmsg];
    });
    expect(r.stdout).toContain("refused");
    expect(r.stderr).toContain("Operation not permitted");
  });

  it("the config's own allow rule opens it", () => {
    const r = runScript(root, write, (c) => {
      c.linux.devices = [kmsg];
      c.linux.resources.devices.push({ allow: true, type: "c", major: 1, minor: 11, access: "w" });
    });
    expect(r.stdout).toContain("written");
  });

  it("without any device rule the container gets runc's default set, not every host device", async () => {
    await withRunning(
      root,
      (c) => {
        delete c.linux.resources;
        c.linux.devices = [kmsg];
      },
      (id) => {
        const list = readFileSync(join(cgroupDirsNamed(id).find((d) => d.includes("/devices/"))!, "devices.list"), "utf8");
        expect(list).not.toContain("a *:* rwm");
        expect(list).toContain("c 1:3 rwm");
        expect(list).not.toContain("c 1:11");
      },
    );
  });
});

describe("long ids", () => {
  it("an id longer than a directory name is refused before anything is made", () => {
    const id = "x".repeat(300);
    const bundle = busyboxBundle((c) => {
      c.process.args = ["true"];
    });
    try {
      const r = polis(root, ["run", "--bundle", bundle, id]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("invalid container id: 300 characters, at most 255");
      expect(polisOk(root, ["list", "-q"]).stdout).toBe("");
      expect(cgroupDirsNamed(id)).toEqual([]);
    } finally {
      polis(root, ["delete", "--force", id]);
      rmSync(bundle, { recursive: true, force: true });
    }
  });

  it("delete --force removes a row even when an earlier step of the cleanup fails", () => {
    // A row an older polis left: its state directory's name is too long to remove (ENAMETOOLONG).
    const id = "y".repeat(300);
    insertCreatingRow(root, id);
    expect(polisOk(root, ["list", "-q"]).stdout).toContain(id);
    const r = polis(root, ["delete", "--force", id]);
    // the failed step is reported (as runc reports its first destroy error) ...
    expect(r.stderr).toContain("ENAMETOOLONG");
    // ... but the row is gone, so the id can be deleted and reused
    expect(polisOk(root, ["list", "-q"]).stdout).not.toContain(id);
    const events = Store.open(root);
    try {
      expect(events.listEvents({ id }).map((e) => e.action)).toContain("delete");
    } finally {
      events.close();
    }
    expect(polis(root, ["delete", "--force", id]).code).toBe(0);
  });
});
