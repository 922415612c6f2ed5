// OCI hooks: each runs at its moment, in its namespace, with the state on stdin, honouring env
// and timeout, with the spec's failure semantics.
import { chmodSync, existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cgroupDirsNamed, pidAlive, polis, polisOk, tempRoot, uniqueId, waitFor } from "../helpers/polis.js";
import { busyboxBundle } from "../helpers/rootfs.js";
import { TEST_CGROUP_PARENT } from "../helpers/host.js";

const root = tempRoot();
const dir = mkdtempSync(join(tmpdir(), "polis-hooks-"));
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
});

/** A hook script that records its name, its mount namespace, its env and its stdin. */
function recorder(log: string): string {
  const path = join(dir, `record-${Math.random().toString(36).slice(2)}.sh`);
  writeFileSync(
    path,
    `#!/bin/sh\nstate=$(cat)\necho "$1 $(readlink /proc/self/ns/mnt) HOOKENV=$HOOKENV LEAK=$POLIS_LEAK $state" >> ${log}\n`,
  );
  chmodSync(path, 0o755);
  return path;
}

function script(body: string): string {
  const path = join(dir, `hook-${Math.random().toString(36).slice(2)}.sh`);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

describe("hooks", () => {
  it("runs every hook at its moment with the state on stdin", async () => {
    const log = join(dir, `order-${uniqueId()}.log`);
    const rec = recorder(log);
    const id = uniqueId("hooks");
    const bundle = busyboxBundle((c) => {
      c.root.readonly = false; // the startContainer hook writes its record into the rootfs
      const h = (name: string) => ({ path: rec, args: ["recorder", name], env: ["HOOKENV=yes"] });
      c.hooks = {
        prestart: [h("prestart")],
        createRuntime: [h("createRuntime")],
        createContainer: [h("createContainer")],
        poststart: [h("poststart")],
        poststop: [h("poststop")],
      };
    });
    // startContainer resolves its path inside the container: put a recorder there.
    writeFileSync(
      join(bundle, "rootfs", "bin", "start-hook"),
      "#!/bin/sh\necho startContainer $(hostname) >> /tmp/start-hook.log\ncat >> /tmp/start-hook.log\n",
    );
    chmodSync(join(bundle, "rootfs", "bin", "start-hook"), 0o755);
    const cfg = JSON.parse(readFileSync(join(bundle, "config.json"), "utf8"));
    cfg.hooks.startContainer = [{ path: "/bin/start-hook" }];
    writeFileSync(join(bundle, "config.json"), JSON.stringify(cfg));

    polisOk(root, ["create", "--bundle", bundle, id], { env: { POLIS_LEAK: "leaked" } });
    const pid = JSON.parse(polisOk(root, ["state", id]).stdout).pid;
    const hostMnt = readlinkSync("/proc/self/ns/mnt");
    const containerMnt = readlinkSync(`/proc/${pid}/ns/mnt`);
    let lines = readFileSync(log, "utf8").trim().split("\n");
    expect(lines.map((l) => l.split(" ")[0])).toEqual(["prestart", "createRuntime", "createContainer"]);
    expect(lines[0].split(" ")[1]).toBe(hostMnt);
    expect(lines[1].split(" ")[1]).toBe(hostMnt);
    expect(lines[2].split(" ")[1]).toBe(containerMnt);
    for (const l of lines) {
      expect(l).toContain("HOOKENV=yes LEAK= "); // env is exactly what the hook asked for, not polis's
      const state = JSON.parse(l.slice(l.indexOf("{")));
      expect(state).toMatchObject({ id, pid, status: "creating", bundle });
    }

    polisOk(root, ["start", id]);
    lines = readFileSync(log, "utf8").trim().split("\n");
    expect(lines[3].split(" ")[0]).toBe("poststart");
    expect(JSON.parse(lines[3].slice(lines[3].indexOf("{"))).status).toBe("running");
    const startLog = readFileSync(join(bundle, "rootfs", "tmp", "start-hook.log"), "utf8");
    expect(startLog).toContain("startContainer");
    expect(JSON.parse(startLog.slice(startLog.indexOf("{")))).toMatchObject({ id, status: "created" });

    polisOk(root, ["delete", "--force", id]);
    lines = readFileSync(log, "utf8").trim().split("\n");
    expect(lines[4].split(" ")[0]).toBe("poststop");
    expect(JSON.parse(lines[4].slice(lines[4].indexOf("{"))).status).toBe("stopped");
    rmSync(bundle, { recursive: true, force: true });
  });

  it("hooks in the container get args[0] as argv[0], not their path", () => {
    // busybox picks its applet by argv[0]: with argv[0] = "/bin/busybox" this would not run sh.
    const id = uniqueId("argv0");
    const marker = join(dir, `${id}.argv0`);
    const bundle = busyboxBundle((c) => {
      c.hooks = { createContainer: [{ path: "/bin/busybox", args: ["sh", "-c", `echo ran > ${marker}`] }] };
    });
    polisOk(root, ["create", "--bundle", bundle, id]);
    expect(readFileSync(marker, "utf8")).toBe("ran\n");
    polisOk(root, ["delete", "--force", id]);
    rmSync(bundle, { recursive: true, force: true });
  });

  it("a failing createRuntime hook fails create and leaves nothing behind", () => {
    const id = uniqueId("hookfail");
    const bundle = busyboxBundle((c) => {
      c.linux.cgroupsPath = `${TEST_CGROUP_PARENT}/${id}`;
      c.hooks = { createRuntime: [{ path: script("echo broken >&2; exit 3") }] };
    });
    const r = polis(root, ["create", "--bundle", bundle, id]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("hooks.createRuntime[0]");
    expect(r.stderr).toContain("broken");
    expect(polis(root, ["state", id]).code).toBe(1);
    expect(cgroupDirsNamed(id)).toEqual([]);
    rmSync(bundle, { recursive: true, force: true });
  });

  it("a hook that exceeds its timeout is killed and fails create", () => {
    const id = uniqueId("hooktimeout");
    const marker = join(dir, `${id}.done`);
    const bundle = busyboxBundle((c) => {
      c.hooks = { prestart: [{ path: script(`sleep 5; touch ${marker}`), timeout: 1 }] };
    });
    const started = Date.now();
    const r = polis(root, ["create", "--bundle", bundle, id]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("hooks.prestart[0]");
    expect(r.stderr).toMatch(/timed out/);
    expect(Date.now() - started).toBeLessThan(4000);
    expect(existsSync(marker)).toBe(false);
    rmSync(bundle, { recursive: true, force: true });
  });

  it("a createContainer hook that times out is killed too, not just the shim running it", async () => {
    const id = uniqueId("hookorphan");
    const nap = `77.${Date.now() % 100000}`; // a sleep we can recognise in /proc
    const bundle = busyboxBundle((c) => {
      // Without a pid namespace nothing else would take the hook down with the init.
      c.linux.namespaces = c.linux.namespaces.filter((n: { type: string }) => n.type !== "pid");
      c.hooks = { createContainer: [{ path: "/bin/sleep", args: ["sleep", nap], timeout: 1 }] };
    });
    const r = polis(root, ["create", "--bundle", bundle, id]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("hooks.createContainer[0]");
    const { readdirSync } = await import("node:fs");
    const sleepers = () =>
      readdirSync("/proc")
        .filter((p) => /^\d+$/.test(p))
        .filter((p) => {
          try {
            return readFileSync(`/proc/${p}/cmdline`, "utf8").includes(nap);
          } catch {
            return false;
          }
        });
    await waitFor(() => sleepers().length === 0, 3000);
    rmSync(bundle, { recursive: true, force: true });
  });

  it("a failing poststart hook is only a warning; a failing poststop does not fail delete", async () => {
    const id = uniqueId("hookwarn");
    const ran = (what: string) => join(dir, `${id}.${what}`);
    const bundle = busyboxBundle((c) => {
      c.hooks = {
        poststart: [{ path: script(`touch ${ran("poststart")}; echo post-start-broke >&2; exit 1`) }],
        poststop: [{ path: script(`touch ${ran("poststop")}; echo post-stop-broke >&2; exit 1`) }],
      };
    });
    polisOk(root, ["create", "--bundle", bundle, id]);
    const pid = JSON.parse(polisOk(root, ["state", id]).stdout).pid;
    const s = polis(root, ["start", id]);
    expect(s.code).toBe(0);
    expect(existsSync(ran("poststart"))).toBe(true); // it did run, and failed
    expect(s.stderr).toMatch(/level=warning msg=".*hooks.poststart\[0\].*post-start-broke/);
    expect(JSON.parse(polisOk(root, ["state", id]).stdout).status).toBe("running");
    const d = polisOk(root, ["delete", "--force", id]);
    expect(existsSync(ran("poststop"))).toBe(true);
    expect(d.stderr).toMatch(/level=warning msg=".*hooks.poststop\[0\].*post-stop-broke/);
    await waitFor(() => !pidAlive(pid));
    rmSync(bundle, { recursive: true, force: true });
  });

  it("a failing startContainer hook fails start and stops the container", async () => {
    const id = uniqueId("hookstart");
    const bundle = busyboxBundle((c) => (c.hooks = { startContainer: [{ path: "/bin/false" }] }));
    polisOk(root, ["create", "--bundle", bundle, id]);
    const r = polis(root, ["start", id]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("hooks.startContainer[0]");
    await waitFor(() => JSON.parse(polisOk(root, ["state", id]).stdout).status === "stopped");
    polisOk(root, ["delete", id]);
    rmSync(bundle, { recursive: true, force: true });
  });
});
