// Nothing polis makes before pivot_root may land outside the rootfs, whatever symlinks the rootfs
// holds; and a rootfs that tries to redirect /proc or /sys is refused (CVE-2019-19921 class).
// Checked from outside: the host directory a symlink points at stays empty, the nodes are where
// the container sees them (inside the rootfs).
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { cgroupDirsNamed, polis, tempRoot, uniqueId } from "../helpers/polis.js";
import { busyboxBundle } from "../helpers/rootfs.js";

type Config = Record<string, any>;

let root: string;
let hostDir: string;
beforeAll(() => {
  root = tempRoot();
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** `polis run` a bundle whose rootfs was prepared by `prepare`; always deleted after. */
function runPrepared(
  edit: (c: Config) => void,
  prepare: (rootfs: string) => void,
  check: (rootfs: string, r: ReturnType<typeof polis>) => void,
) {
  const id = uniqueId("hp");
  const bundle = busyboxBundle(edit);
  try {
    prepare(join(bundle, "rootfs"));
    const r = polis(root, ["run", "--bundle", bundle, id]);
    check(join(bundle, "rootfs"), r);
  } finally {
    polis(root, ["delete", "--force", id]);
    rmSync(bundle, { recursive: true, force: true });
  }
}

const GPU = { path: "/dev/polis-test-gpu", type: "c", major: 1, minor: 5, fileMode: 0o666 };
const withoutDevMounts = (c: Config) => {
  c.mounts = c.mounts.filter((m: { destination: string }) => !m.destination.startsWith("/dev"));
};

describe("a symlinked /dev cannot send device nodes or links to the host", () => {
  // a fresh host directory per test: what one test leaks must not fail the next
  beforeEach(() => {
    hostDir = mkdtempSync(join(tmpdir(), "polis-hostdev-"));
  });
  afterEach(() => rmSync(hostDir, { recursive: true, force: true }));

  const linkDev = (rootfs: string) => {
    rmSync(join(rootfs, "dev"), { recursive: true, force: true });
    symlinkSync(hostDir, join(rootfs, "dev")); // absolute: on the host it is a real directory
  };

  it("with /dev from the rootfs and a linux.devices entry: created inside the rootfs, none on the host", () => {
    runPrepared(
      (c) => {
        withoutDevMounts(c);
        c.linux.devices = [GPU];
        c.process.args = ["sh", "-c", "ls -l /dev/polis-test-gpu /dev/null /dev/stdin"];
      },
      linkDev,
      (rootfs, r) => {
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout).toMatch(/^c.* 1,\s+5 .*polis-test-gpu/m);
        expect(readdirSync(hostDir)).toEqual([]);
        // the symlink was followed inside the rootfs: that is where the nodes are
        const inside = join(rootfs, hostDir);
        expect(lstatSync(join(inside, "polis-test-gpu")).isCharacterDevice()).toBe(true);
        expect(lstatSync(join(inside, "stdin")).isSymbolicLink()).toBe(true);
      },
    );
    expect(readdirSync(hostDir)).toEqual([]);
  });

  it("with a tmpfs on /dev (runc's default config): the tmpfs lands in the rootfs, nothing on the host", () => {
    runPrepared(
      (c) => {
        c.linux.devices = [GPU];
        c.process.args = ["sh", "-c", "ls -l /dev/polis-test-gpu /dev/ptmx"];
      },
      linkDev,
      (_rootfs, r) => {
        expect(readdirSync(hostDir)).toEqual([]);
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout).toMatch(/polis-test-gpu/);
      },
    );
    expect(readdirSync(hostDir)).toEqual([]);
  });

  // The co-mount links (cpu -> cpu,cpuacct) are made only on hosts that co-mount hierarchies; the
  // cgroup tmpfs and its directories are checked everywhere (the links: plan-confinement.test.ts).
  it("the cgroup mount's tmpfs, directories and links stay in the rootfs when /sys/fs/cgroup is a symlink", () => {
    runPrepared(
      (c) => {
        c.process.args = ["true"];
      },
      (rootfs) => {
        mkdirSync(join(rootfs, "sys", "fs"), { recursive: true });
        symlinkSync(hostDir, join(rootfs, "sys", "fs", "cgroup"));
      },
      (_rootfs, r) => {
        expect(readdirSync(hostDir)).toEqual([]);
        expect(r.code, r.stderr).toBe(0);
      },
    );
  });
});

describe("a symlinked /proc or /sys in the rootfs is refused (CVE-2019-19921 class)", () => {
  for (const [dest, fstype] of [
    ["proc", "proc"],
    ["sys", "sysfs"],
  ] as const) {
    it(`/${dest} -> a directory elsewhere: create fails naming mounts[i] and leaves nothing`, () => {
      const id = uniqueId("lnk");
      const bundle = busyboxBundle((c) => {
        c.process.args = ["true"];
      });
      try {
        const rootfs = join(bundle, "rootfs");
        rmSync(join(rootfs, dest), { recursive: true, force: true });
        mkdirSync(join(rootfs, "elsewhere"));
        symlinkSync("/elsewhere", join(rootfs, dest));
        const index = JSON.parse(readFileSync(join(bundle, "config.json"), "utf8")).mounts.findIndex(
          (m: Config) => m.type === fstype,
        );
        const r = polis(root, ["create", "--bundle", bundle, id]);
        expect(r.code).toBe(1);
        expect(r.stderr).toContain(`mounts[${index}]: mount ${fstype} on /${dest}`);
        expect(r.stderr).toContain(`must be mounted on an ordinary directory`);
        // nothing was mounted through the link, and no container is left
        expect(readdirSync(join(rootfs, "elsewhere"))).toEqual([]);
        expect(polis(root, ["state", id]).code).not.toBe(0);
        expect(cgroupDirsNamed(id)).toEqual([]);
      } finally {
        polis(root, ["delete", "--force", id]);
        rmSync(bundle, { recursive: true, force: true });
      }
    });
  }

  it("a real /proc directory still works (control)", () => {
    runPrepared(
      (c) => {
        c.process.args = [
          "sh",
          "-c",
          "test -r /proc/self/status && awk '$5 == \"/proc\"' /proc/self/mountinfo | grep -c ' - proc '",
        ];
      },
      () => {},
      (_rootfs, r) => {
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout.trim()).toBe("1");
      },
    );
  });
});
