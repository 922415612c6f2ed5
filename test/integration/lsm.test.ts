// Security settings polis cannot (LSMs) or must (session keyring) honour, through the CLI.
// This host has neither AppArmor nor SELinux: a config asking for a profile or a label must fail
// at create, naming the field, before anything exists — never run the container unconfined.
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runScript } from "../helpers/containers.js";
import { cgroupDirsNamed, polis, tempRoot, uniqueId } from "../helpers/polis.js";
import { busyboxBundle } from "../helpers/rootfs.js";

type Config = Record<string, any>;

let root: string;
beforeAll(() => {
  root = tempRoot();
});
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

const hostHasAppArmor = () => {
  try {
    return readFileSync("/sys/module/apparmor/parameters/enabled", "utf8").trim() === "Y";
  } catch {
    return false;
  }
};
const hostHasSelinux = () => existsSync("/sys/fs/selinux/enforce");

describe("LSM settings on a host without AppArmor and SELinux", () => {
  const cases: [string, (c: Config) => void, string][] = [
    [
      "process.apparmorProfile",
      (c) => (c.process.apparmorProfile = "docker-default"),
      "process.apparmorProfile: apparmor is not enabled on this host",
    ],
    [
      "process.selinuxLabel",
      (c) => (c.process.selinuxLabel = "system_u:system_r:container_t:s0"),
      "process.selinuxLabel: selinux is not enabled on this host",
    ],
    [
      "linux.mountLabel",
      (c) => (c.linux.mountLabel = "system_u:object_r:container_file_t:s0"),
      "linux.mountLabel: selinux is not enabled on this host",
    ],
  ];
  for (const [field, edit, message] of cases) {
    it(`${field}: create fails naming the field, and leaves nothing behind`, () => {
      if (hostHasAppArmor() || hostHasSelinux()) return; // the message differs on such a host
      const id = uniqueId("lsm");
      const bundle = busyboxBundle(edit);
      try {
        const r = polis(root, ["create", "--bundle", bundle, id]);
        expect(r.code).toBe(1);
        expect(r.stderr).toContain(message);
        expect(polis(root, ["state", id]).stderr).toContain("container does not exist");
        expect(existsSync(join(root, "containers", id))).toBe(false);
        expect(cgroupDirsNamed(id)).toEqual([]);
        // runc prints null for no containers
        const listed: { id: string }[] = JSON.parse(polis(root, ["list", "--format", "json"]).stdout) ?? [];
        expect(listed.map((e) => e.id)).not.toContain(id);
      } finally {
        polis(root, ["delete", "--force", id]);
        rmSync(bundle, { recursive: true, force: true });
      }
    });
  }

  it("empty strings mean unset (the container runs)", () => {
    const r = runScript(root, "echo ok", (c) => {
      c.process.apparmorProfile = "";
      c.process.selinuxLabel = "";
      c.linux.mountLabel = "";
    });
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("ok\n");
  });
});

describe("session keyring", () => {
  // /proc/keys lists every keyring the reader may view: as root, all of uid 0's, so the test
  // looks for this container's name, which only this container's init can have created.
  const unmaskKeys = (c: Config) => {
    c.linux.maskedPaths = c.linux.maskedPaths.filter((p: string) => p !== "/proc/keys");
  };

  it("the init joins a new session keyring named after the container, searchable by its user (runc)", () => {
    const id = uniqueId("keys");
    const bundle = busyboxBundle((c) => {
      unmaskKeys(c);
      c.process.args = ["cat", "/proc/keys"];
    });
    try {
      const r = polis(root, ["run", "--bundle", bundle, id]);
      expect(r.code, r.stderr).toBe(0);
      const line = r.stdout.split("\n").find((l) => l.endsWith(`_ses.${id}: empty`));
      expect(line, r.stdout).toBeDefined();
      // possessor: all; user: view, read, search (added like runc), link
      expect(line!.split(/\s+/)[4]).toBe("3f1b0000");
      expect(line!.split(/\s+/)[7]).toBe("keyring");
    } finally {
      polis(root, ["delete", "--force", id]);
      rmSync(bundle, { recursive: true, force: true });
    }
  });

  it("exec joins the keyring the init joined, and none after --no-new-keyring (runc)", () => {
    for (const noNew of [false, true]) {
      const id = uniqueId("execkeys");
      const bundle = busyboxBundle((c) => unmaskKeys(c));
      try {
        const flags = noNew ? ["--no-new-keyring"] : [];
        expect(polis(root, ["run", "--detach", ...flags, "--bundle", bundle, id]).code).toBe(0);
        const r = polis(root, ["exec", id, "cat", "/proc/keys"]);
        expect(r.code, r.stderr).toBe(0);
        if (noNew) expect(r.stdout).not.toContain(`_ses.${id}`);
        else expect(r.stdout).toContain(`_ses.${id}`);
      } finally {
        polis(root, ["delete", "--force", id]);
        rmSync(bundle, { recursive: true, force: true });
      }
    }
  });

  it("--no-new-keyring keeps the caller's session keyring", () => {
    const id = uniqueId("nokeys");
    const bundle = busyboxBundle((c) => {
      unmaskKeys(c);
      c.process.args = ["cat", "/proc/keys"];
    });
    try {
      const r = polis(root, ["run", "--no-new-keyring", "--bundle", bundle, id]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(" keyring "); // the control: /proc/keys is readable
      expect(r.stdout).not.toContain(`_ses.${id}`);
    } finally {
      polis(root, ["delete", "--force", id]);
      rmSync(bundle, { recursive: true, force: true });
    }
  });
});
