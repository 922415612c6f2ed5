// create / run / delete when a step fails: every earlier step is undone (state row, state dir,
// cgroup, the half-made init), and the error that is reported is the first one. The cgroup
// manager and the shim launch are fakes that record calls and fail on demand; the state store is
// the real SQLite file in a temp root.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeEach, describe, expect, it, vi } from "vitest";
import type { CgroupManager } from "../../src/cgroups/types.js";
import { PolisError } from "../../src/errors.js";
import { configureLog } from "../../src/log.js";
import { Store } from "../../src/state/store.js";

/** A cgroup manager that records what the lifecycle asks of it and fails where told. */
class FakeCgroup implements CgroupManager {
  readonly paths = { memory: "/fake/cgroup/memory/c", unified: "/fake/cgroup/unified/c" };
  calls: string[] = [];
  failOn = new Set<string>();
  members: number[] = [];
  private hit(what: string): void {
    this.calls.push(what);
    if (this.failOn.has(what)) throw new PolisError(`${what}: injected failure`, { errno: "EIO" });
  }
  create() {
    this.hit("create");
  }
  procsFiles() {
    return [];
  }
  pids() {
    return this.members;
  }
  killAll(signal: number) {
    this.hit(`killAll ${signal}`);
  }
  destroy() {
    this.hit("destroy");
  }
  apply() {
    this.hit("apply");
  }
  freeze() {
    this.hit("freeze");
  }
  thaw() {
    this.hit("thaw");
  }
  isFrozen() {
    return false;
  }
  stats(): never {
    throw new Error("not used");
  }
}

let cgroup = new FakeCgroup();
const launch = {
  /** what launchInit does: return a fake launch, or throw */
  impl: async (): Promise<unknown> => fakeLaunch(),
  sessions: [] as { close: ReturnType<typeof vi.fn>; reaped: () => Promise<void>; exitStatus: () => Promise<number> }[],
  abandoned: 0,
};
function fakeLaunch(status = 0) {
  const session = { close: vi.fn(), reaped: async () => {}, exitStatus: async () => status };
  launch.sessions.push(session);
  return { pid: 999_999_999, session, abandon: () => void launch.abandoned++ };
}
let started: string[] = [];

vi.mock("../../src/container/cgroup.js", async (orig) => ({
  ...(await orig<typeof import("../../src/container/cgroup.js")>()),
  newCgroupManager: () => cgroup,
  recordedCgroup: () => cgroup,
}));
// planInit's plan only goes to launchInit, which is the fake here.
vi.mock("../../src/container/launch.js", () => ({ planInit: async () => ({ ops: [] }), launchInit: () => launch.impl() }));
vi.mock("../../src/container/start.js", () => ({
  startCreated: async (_store: unknown, rec: { id: string }) => void started.push(rec.id),
}));

const { createContainer } = await import("../../src/container/create.js");
const { deleteContainer } = await import("../../src/container/delete.js");
const { runContainer, exitCodeOf } = await import("../../src/container/run.js");
const { cleanupContainer } = await import("../../src/container/cleanup.js");

const tmp = mkdtempSync(join(tmpdir(), "polis-rollback-"));
afterAll(() => {
  configureLog({ format: "text", debug: false });
  rmSync(tmp, { recursive: true, force: true });
});
const warnings: string[] = [];
let n = 0;
let g = { root: "", logFormat: "text" as const, debug: false, systemdCgroup: false };

beforeEach(() => {
  cgroup = new FakeCgroup();
  launch.impl = async () => fakeLaunch();
  launch.sessions = [];
  launch.abandoned = 0;
  started = [];
  warnings.length = 0;
  configureLog({ format: "text", debug: false, stderr: (t) => void warnings.push(t) });
  g = { ...g, root: join(tmp, `root-${n++}`) };
});

function bundle(edit: (c: Record<string, any>) => void = () => {}): string {
  const dir = join(tmp, `bundle-${n++}`);
  mkdirSync(join(dir, "rootfs"), { recursive: true });
  const config = JSON.parse(readFileSync(join(__dirname, "..", "fixtures", "busybox-config.json"), "utf8"));
  edit(config);
  writeFileSync(join(dir, "config.json"), JSON.stringify(config));
  return dir;
}

const opts = (id: string, b = bundle()) => ({ id, bundle: b, noPivot: false, noNewKeyring: false, preserveFds: 0 });

/** Nothing of `id` is left: no row, no state dir; the cgroup was destroyed. */
function expectNothingLeft(id: string): void {
  const store = Store.open(g.root);
  try {
    expect(store.get(id)).toBeUndefined();
  } finally {
    store.close();
  }
  expect(existsSync(join(g.root, "containers", id))).toBe(false);
  expect(cgroup.calls).toContain("destroy");
}

describe("create rolls back every step it made", () => {
  for (const step of ["create", "apply"]) {
    it(`when cgroup ${step} fails`, async () => {
      cgroup.failOn.add(step);
      const b = bundle((c) => (c.linux.resources = { pids: { limit: 10 } }));
      await expect(createContainer(g, opts(`cg-${step}`, b))).rejects.toThrow(`${step}: injected failure`);
      expectNothingLeft(`cg-${step}`);
      expect(launch.sessions).toEqual([]); // the shim was never started
    });
  }

  it("when the shim fails, with the shim's error", async () => {
    launch.impl = async () => {
      throw new PolisError("process.args[0]: find executable nope: ENOENT");
    };
    await expect(createContainer(g, opts("shimfail"))).rejects.toThrow("process.args[0]: find executable nope: ENOENT");
    expectNothingLeft("shimfail");
  });

  it("when writing --pid-file fails after the init exists: the init is abandoned", async () => {
    const o = { ...opts("pidfile"), pidFile: join(tmp, "no", "such", "dir", "pid") };
    await expect(createContainer(g, o)).rejects.toThrow(/pid/);
    expect(launch.abandoned).toBe(1);
    expectNothingLeft("pidfile");
  });

  it("a non-PolisError becomes one, and a failing cleanup is only a warning after the real error", async () => {
    launch.impl = async () => {
      throw new TypeError("boom");
    };
    cgroup.failOn.add("destroy");
    const err = await createContainer(g, opts("wrapped")).catch((e) => e);
    expect(err).toBeInstanceOf(PolisError);
    expect(err.message).toBe("boom");
    expect(warnings.join("")).toContain("cleaning up after the failed create: remove the cgroup: destroy: injected failure");
  });

  it("a delete --force that removed the row meanwhile is what gets reported", async () => {
    launch.impl = async () => {
      const store = Store.open(g.root);
      store.remove("raced");
      store.close();
      throw new PolisError("the shim ended");
    };
    await expect(createContainer(g, opts("raced"))).rejects.toThrow("container raced was deleted while it was being created");
  });

  it("a detached create closes the session; a foreground one keeps it for the exit status", async () => {
    await createContainer(g, opts("det"), "detach");
    await createContainer(g, opts("fg"), "wait");
    expect(launch.sessions.map((s) => s.close.mock.calls.length)).toEqual([1, 0]);
    const store = Store.open(g.root);
    expect(store.get("det")?.phase).toBe("created");
    store.close();
  });

  it("a second create of the same id fails and leaves the first one alone", async () => {
    await createContainer(g, opts("dup"));
    cgroup.calls = [];
    await expect(createContainer(g, opts("dup"))).rejects.toThrow(/dup/);
    expect(cgroup.calls).toEqual([]); // nothing made, nothing destroyed
    const store = Store.open(g.root);
    expect(store.get("dup")?.phase).toBe("created");
    store.close();
  });
});

describe("run in the foreground", () => {
  it("returns the exit code and deletes the container, also when start fails", async () => {
    launch.impl = async () => fakeLaunch(3 << 8);
    expect(await runContainer(g, { ...opts("run1"), detach: false, keep: false })).toBe(3);
    expect(started).toEqual(["run1"]);
    expectNothingLeft("run1");
  });

  it("--keep keeps the stopped container; a death by signal is 128+N", async () => {
    launch.impl = async () => fakeLaunch(9);
    expect(await runContainer(g, { ...opts("keep"), detach: false, keep: true })).toBe(137);
    const store = Store.open(g.root);
    expect(store.get("keep")).toBeDefined();
    store.close();
    expect(cgroup.calls).not.toContain("destroy");
  });

  it("a failed create is not deleted a second time (the id may be someone else's by then)", async () => {
    cgroup.failOn.add("create");
    await expect(runContainer(g, { ...opts("runfail"), detach: false, keep: false })).rejects.toThrow("create: injected failure");
    expect(cgroup.calls.filter((c) => c === "destroy")).toHaveLength(1); // create's own rollback only
  });

  it("exitCodeOf decodes wait statuses as a shell does", () => {
    expect(exitCodeOf(0)).toBe(0);
    expect(exitCodeOf(42 << 8)).toBe(42);
    expect(exitCodeOf(15)).toBe(143);
    expect(() => exitCodeOf((19 << 8) | 0x7f)).toThrow("stopped unexpectedly");
  });
});

describe("delete", () => {
  it("of a missing container: an error, except with --force (containerd calls it twice)", async () => {
    await expect(deleteContainer(g, { id: "ghost", force: false })).rejects.toThrow("container does not exist");
    await expect(deleteContainer(g, { id: "ghost", force: true })).resolves.toBeUndefined();
  });

  it("of a created container whose init is gone: sweeps the cgroup without a pid namespace, then removes all", async () => {
    await createContainer(
      g,
      opts(
        "del",
        bundle((c) => (c.linux.namespaces = [{ type: "mount" }])),
      ),
    );
    cgroup.calls = [];
    await deleteContainer(g, { id: "del", force: false });
    expect(cgroup.calls).toEqual(["thaw", "killAll 9", "destroy"]);
    expectNothingLeft("del");
  });

  it("leaves a cgroup shared with another container in place, with a warning", async () => {
    await createContainer(g, opts("shared"));
    await createContainer(g, opts("sharer")); // the fake gives every container the same cgroup
    cgroup.failOn.add("destroy");
    cgroup.members = [1];
    const store = Store.open(g.root);
    const rec = store.get("shared")!;
    // with its own pid namespace and an init that was recorded, the cgroup is not swept
    await cleanupContainer(g, store, { ...rec, pid: 999_999_999, pidStartTime: "1" }, { runPoststop: false });
    expect(store.get("shared")).toBeUndefined();
    store.close();
    expect(cgroup.calls).not.toContain("killAll 9");
    expect(warnings.join("")).toContain("the container's cgroup is shared with container sharer: not removing it");
  });

  it("a cgroup that cannot be removed fails the delete and keeps the container, so that a second delete finishes it", async () => {
    await createContainer(g, opts("stuck"));
    cgroup.failOn.add("destroy");
    cgroup.members = [1]; // a process polis did not start (never signalled: pid 1)
    const err = await deleteContainer(g, { id: "stuck", force: true }).catch((e) => e);
    expect(err).toBeInstanceOf(PolisError);
    expect(err.message).toBe(
      "remove the cgroup: destroy: injected failure (1 process(es) still in it); container stuck is kept until its cgroup can be removed (delete it again)",
    );
    // like runc's destroy: the row and the state directory stay for the next delete
    let store = Store.open(g.root);
    expect(store.get("stuck")).toBeDefined();
    store.close();
    expect(existsSync(join(g.root, "containers", "stuck"))).toBe(true);
    cgroup.failOn.delete("destroy");
    cgroup.members = [];
    await deleteContainer(g, { id: "stuck", force: true });
    store = Store.open(g.root);
    expect(store.get("stuck")).toBeUndefined();
    expect(store.listEvents({ id: "stuck", action: "delete" })).toHaveLength(1);
    store.close();
    expectNothingLeft("stuck");
  });

  it("a failing poststop hook is a warning and the delete succeeds", async () => {
    const hook = join(tmp, "poststop.sh");
    writeFileSync(hook, "#!/bin/sh\necho nope >&2\nexit 4\n", { mode: 0o755 });
    await createContainer(
      g,
      opts(
        "post",
        bundle((c) => (c.hooks = { poststop: [{ path: hook }] })),
      ),
    );
    await deleteContainer(g, { id: "post", force: false });
    expect(warnings.join("")).toContain("hooks.poststop[0]");
    expectNothingLeft("post");
  });
});

describe("the seam to the rooms beside the runtime (afterInit, resource release)", () => {
  it("an afterInit step that fails (a network attach) undoes the create like any other step", async () => {
    const seen: number[] = [];
    const afterInit = async (pid: number) => {
      seen.push(pid);
      throw new PolisError("network attach: injected failure");
    };
    await expect(createContainer(g, opts("attach"), "detach", { afterInit })).rejects.toThrow("network attach: injected failure");
    expect(seen).toEqual([999_999_999]); // it ran with the init's pid
    expect(launch.abandoned).toBe(1);
    expectNothingLeft("attach");
  });

  it("delete gives every recorded resource back, newest first; a failed release keeps its row for a retry", async () => {
    const { setResourceReleaser } = await import("../../src/container/resources.js");
    const released: string[] = [];
    setResourceReleaser(async (_g, _s, row) => {
      if (row.name === "stuck" && released.includes("stuck")) throw new PolisError("release stuck: injected failure");
      released.push(row.name);
    });
    try {
      await createContainer(g, opts("res"));
      const store = Store.open(g.root);
      store.addResource("res", "test", "first");
      store.addResource("res", "test", "second");
      store.close();
      await deleteContainer(g, { id: "res", force: true });
      expect(released).toEqual(["second", "first"]);
      // an id with no container row: delete --force still releases its rows
      const s2 = Store.open(g.root);
      s2.addResource("orphan", "test", "stuck");
      s2.close();
      await deleteContainer(g, { id: "orphan", force: true });
      expect(released).toContain("stuck");
      const s3 = Store.open(g.root);
      s3.addResource("orphan2", "test", "stuck");
      s3.close();
      await expect(deleteContainer(g, { id: "orphan2", force: true })).rejects.toThrow("release stuck: injected failure");
      const s4 = Store.open(g.root);
      expect(s4.resourcesOf("orphan2").map((r) => r.name)).toEqual(["stuck"]);
      s4.close();
    } finally {
      setResourceReleaser(undefined);
    }
  });

  it("delete --force of an id whose create was still running: the row that create made while being stopped goes too", async () => {
    const { setResourceReleaser } = await import("../../src/container/resources.js");
    // The monitor's releaser stops the monitor and the `polis create` it runs; that create had
    // made its row (and cgroup) just before. Here: a create that completes inside the release.
    setResourceReleaser(async () => {
      await createContainer(g, opts("racing"));
      cgroup.calls = [];
    });
    try {
      const store = Store.open(g.root);
      store.addResource("racing", "test", "monitor");
      store.close();
      await deleteContainer(g, { id: "racing", force: true });
      expectNothingLeft("racing");
      const s2 = Store.open(g.root);
      expect(s2.resourcesOf("racing")).toEqual([]);
      expect(s2.listEvents({ id: "racing", action: "delete" })).toHaveLength(1);
      s2.close();
    } finally {
      setResourceReleaser(undefined);
    }
  });

  it("a resource kind no room releases is an error naming the container, kind and name", async () => {
    const { releaseResource } = await import("../../src/resources/release.js");
    const store = Store.open(g.root);
    try {
      await expect(releaseResource(g, store, { containerId: "c1", kind: "nope", name: "x", data: {} })).rejects.toThrow(
        "container c1: unknown resource kind nope (x)",
      );
    } finally {
      store.close();
    }
  });
});
