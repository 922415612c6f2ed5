// linux.maskedPaths never take their null device from the rootfs (CVE-2025-31133 class): with /dev
// from the rootfs and rootfs/dev/null planted (a symlink to a writable procfs file, or a regular
// file), the masked files are still the real null device, checked from outside through
// /proc/<pid>/root, and writing to them changes nothing.
import { chownSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { polis, polisOk, tempRoot, uniqueId } from "../helpers/polis.js";
import { busyboxBundle } from "../helpers/rootfs.js";

type Config = Record<string, any>;

let root: string;
beforeAll(() => {
  root = tempRoot();
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A running container (`sleep`) with /dev from its rootfs, where `plant` replaced dev/null first. */
function withPlantedNull(
  plant: (devNull: string) => void,
  check: (pid: number) => void,
  edit: (c: Config) => void = () => {},
): void {
  const id = uniqueId("mask");
  const bundle = busyboxBundle((c: Config) => {
    c.mounts = c.mounts.filter((m: { destination: string }) => !m.destination.startsWith("/dev"));
    edit(c);
  });
  try {
    const devNull = join(bundle, "rootfs", "dev", "null");
    rmSync(devNull, { force: true });
    plant(devNull);
    polisOk(root, ["run", "--detach", "--bundle", bundle, id]);
    check(JSON.parse(polisOk(root, ["state", id]).stdout).pid);
  } finally {
    polis(root, ["delete", "--force", id]);
    rmSync(bundle, { recursive: true, force: true });
  }
}

const MASKED_FILES = ["/proc/timer_list", "/proc/kcore", "/proc/keys", "/proc/sched_debug"];

function expectNullDevice(pid: number): void {
  for (const p of MASKED_FILES) {
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(`/proc/${pid}/root${p}`);
    } catch {
      continue; // not in this kernel's procfs: nothing to mask
    }
    expect(st.isCharacterDevice(), `${p} is the null device`).toBe(true);
    expect(st.rdev, `${p} is 1:3`).toBe((1 << 8) | 3);
    expect(readFileSync(`/proc/${pid}/root${p}`, "utf8"), `${p} reads empty`).toBe("");
  }
  // writing through the masked path reaches no procfs file: the init's oom_score_adj stays
  const before = readFileSync(`/proc/${pid}/oom_score_adj`, "utf8").trim();
  writeFileSync(`/proc/${pid}/root/proc/timer_list`, "500");
  expect(readFileSync(`/proc/${pid}/oom_score_adj`, "utf8").trim()).toBe(before);
  expect(before).not.toBe("500");
}

describe("masked paths through a planted /dev/null", () => {
  it("rootfs/dev/null -> /proc/self/oom_score_adj: masks are still the real null device", () => {
    withPlantedNull((devNull) => symlinkSync("/proc/self/oom_score_adj", devNull), expectNullDevice);
  });

  // In a user namespace the null device comes from a clone of the host's (locked) /dev mount; the
  // planted link happens to get the host's node bound through it, so this case guards the user
  // namespace path of MASK_SOURCE rather than the planted-link bug (the cases around it do).
  it("in a user namespace (devices bound from the host), with the planted symlink: still the real null device", () => {
    const plant = (devNull: string) => {
      chownSync(dirname(devNull), 240000, 240000); // the mapped root makes the mount points in /dev
      symlinkSync("/proc/self/oom_score_adj", devNull);
    };
    withPlantedNull(plant, expectNullDevice, (c) => {
      c.linux.namespaces.push({ type: "user" });
      c.linux.uidMappings = [{ containerID: 0, hostID: 240000, size: 65536 }];
      c.linux.gidMappings = [{ containerID: 0, hostID: 240000, size: 65536 }];
      c.mounts = c.mounts.filter((m: Config) => m.type !== "cgroup");
    });
  });

  it("rootfs/dev/null a regular file: masks are still the real null device", () => {
    withPlantedNull(
      (devNull) => writeFileSync(devNull, "secret-looking data\n"),
      (pid) => {
        expectNullDevice(pid);
        // the planted file itself is left as the image had it (runc keeps an existing node)
        expect(readFileSync(`/proc/${pid}/root/dev/null`, "utf8")).toBe("secret-looking data\n");
      },
    );
  });
});
