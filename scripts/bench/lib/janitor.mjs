// Remembers everything the harness makes (containers, state roots, temp dirs) and removes it:
// after each case, at the end, and on Ctrl-C or a crash.
import { existsSync, readdirSync, readFileSync, rmSync, rmdirSync } from "node:fs";
import { isMountPoint } from "./namespace.mjs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";

const CGROUP_ROOT = "/sys/fs/cgroup";

export class Janitor {
  constructor(idPrefix) {
    this.idPrefix = idPrefix;
    /** runtime name -> { rt, ids: Set<string> } */
    this.containers = new Map();
    this.dirs = [];
    this.done = false;
  }

  track(rt, id) {
    if (!this.containers.has(rt.name)) this.containers.set(rt.name, { rt, ids: new Set() });
    this.containers.get(rt.name).ids.add(id);
  }

  untrack(rt, id) {
    this.containers.get(rt.name)?.ids.delete(id);
  }

  addDir(dir) {
    this.dirs.push(dir);
  }

  /** delete --force, ignoring "does not exist"; synchronous so it also works from an exit handler. */
  removeContainer(rt, id) {
    const argv = rt.argv(["delete", "--force", id]);
    spawnSync(argv[0], argv.slice(1), { env: rt.env, stdio: "ignore", timeout: 30_000 });
    this.untrack(rt, id);
  }

  /** Remove every tracked container of every runtime, then whatever else the runtime still lists. */
  removeAllContainers() {
    for (const { rt, ids } of this.containers.values()) {
      for (const id of [...ids]) this.removeContainer(rt, id);
      for (const id of this.listed(rt)) this.removeContainer(rt, id);
      // A runtime whose delete is broken (polis under construction) still must not leak processes.
      for (const pid of this.pidsInRoot(rt.root)) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
    }
  }

  listed(rt) {
    const argv = rt.argv(["list", "-q"]);
    const r = spawnSync(argv[0], argv.slice(1), {
      env: rt.env,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
      timeout: 30_000,
    });
    if (r.status !== 0) return [];
    return r.stdout
      .split("\n")
      .map((s) => s.trim())
      .filter((s) => s.startsWith(this.idPrefix));
  }

  /** Container pids recorded in <root>/<id>/state.json (runc's layout; others are covered by delete). */
  pidsInRoot(root) {
    const pids = [];
    if (!existsSync(root)) return pids;
    for (const id of readdirSync(root)) {
      if (!id.startsWith(this.idPrefix)) continue;
      try {
        const s = JSON.parse(readFileSync(join(root, id, "state.json"), "utf8"));
        const pid = s.init_process_pid ?? s.pid;
        if (Number.isInteger(pid) && pid > 1) pids.push(pid);
      } catch {
        // not runc's layout or already removed
      }
    }
    return pids;
  }

  /**
   * rmdir cgroups named after our containers that a runtime left behind, in every v1 controller,
   * both at the top and under the harness's own cgroup (runc nests relative paths there).
   * Only directories whose name starts with our unique id prefix are touched, and only with rmdir.
   */
  sweepCgroups() {
    let own = {};
    try {
      for (const line of readFileSync("/proc/self/cgroup", "utf8").split("\n")) {
        const [, ctrls, path] = line.split(":");
        if (ctrls && path) for (const c of ctrls.split(",")) own[c.replace(/^name=/, "")] = path;
      }
    } catch {
      own = {};
    }
    let ctrls = [];
    try {
      ctrls = readdirSync(CGROUP_ROOT);
    } catch {
      return;
    }
    for (const ctrl of ctrls) {
      // With cgroup2 unmounted in our namespace, /sys/fs/cgroup/unified is a plain directory of
      // the (shared) tmpfs below it, and crun still writes <id>/cgroup.procs there: remove those
      // as ordinary files, or they pile up, hidden under the host's cgroup2 mount.
      const plain = !isMountPoint(join(CGROUP_ROOT, ctrl));
      const bases = new Set([join(CGROUP_ROOT, ctrl)]);
      if (own[ctrl]) bases.add(join(CGROUP_ROOT, ctrl, own[ctrl]));
      for (const base of bases) {
        let entries = [];
        try {
          entries = readdirSync(base, { withFileTypes: true });
        } catch {
          continue;
        }
        for (const e of entries) {
          if (e.isDirectory() && e.name.startsWith(this.idPrefix)) {
            try {
              if (plain) rmSync(join(base, e.name), { recursive: true, force: true });
              else rmdirSync(join(base, e.name));
            } catch {
              // still has processes or children: reported by leftovers()
            }
          }
        }
      }
    }
  }

  /** Containers and cgroups still present after cleanup, for the report (should be empty). */
  leftovers() {
    const left = [];
    for (const { rt } of this.containers.values()) for (const id of this.listed(rt)) left.push(`${rt.name}:${id}`);
    for (const ctrl of safeReaddir(CGROUP_ROOT)) {
      for (const name of safeReaddir(join(CGROUP_ROOT, ctrl)))
        if (name.startsWith(this.idPrefix)) left.push(`cgroup ${ctrl}/${name}`);
    }
    return left;
  }

  /** Remove everything; returns what could not be removed. Idempotent. */
  cleanupAll() {
    if (this.done) return [];
    this.done = true;
    this.removeAllContainers();
    this.sweepCgroups();
    const left = this.leftovers();
    for (const dir of this.dirs.reverse()) rmSync(dir, { recursive: true, force: true });
    return left;
  }
}

function safeReaddir(dir) {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
