// process.*: args, env, cwd, user, rlimits, capabilities, noNewPrivileges, oomScoreAdj,
// ioPriority, scheduler, personality, terminal; plus hostname, domainname and sysctl.
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runScript, withRunning } from "../helpers/containers.js";
import { polis, polisOk, tempRoot, uniqueId, waitFor } from "../helpers/polis.js";
import { busyboxBundle, REPO } from "../helpers/rootfs.js";

const root = tempRoot();
afterAll(() => rmSync(root, { recursive: true, force: true }));

function status(pid: number, field: string): string {
  const m = readFileSync(`/proc/${pid}/status`, "utf8").match(new RegExp(`^${field}:\\s+(.*)$`, "m"));
  return m ? m[1].trim() : "";
}

describe("process", () => {
  it("runs args with env and cwd", () => {
    const r = runScript(root, 'echo "$GREETING"; pwd', (c) => {
      c.process.env.push("GREETING=hello polis");
      c.process.cwd = "/tmp";
    });
    expect(r.stdout).toBe("hello polis\n/tmp\n");
  });

  it("sets uid, gid, additionalGids and umask", () => {
    const r = runScript(root, "id; umask", (c) => {
      c.process.user = { uid: 1000, gid: 1001, additionalGids: [2000, 2001], umask: 0o027 };
    });
    expect(r.stdout).toContain("uid=1000 gid=1001 groups=2000,2001");
    expect(r.stdout).toContain("0027");
  });

  it("sets rlimits, and names the rlimit it cannot raise", async () => {
    await withRunning(
      root,
      (c) =>
        (c.process.rlimits = [
          { type: "RLIMIT_NOFILE", soft: 512, hard: 1024 },
          { type: "RLIMIT_CORE", soft: 0, hard: 0 },
        ]),
      (_id, pid) => {
        const limits = readFileSync(`/proc/${pid}/limits`, "utf8");
        expect(limits).toMatch(/Max open files\s+512\s+1024/);
        expect(limits).toMatch(/Max core file size\s+0\s+0/);
      },
    );
    // Without CAP_SYS_RESOURCE in the bounding set, a hard limit above ours cannot be set.
    const bundle = busyboxBundle((c) => (c.process.rlimits = [{ type: "RLIMIT_NOFILE", soft: 1024, hard: 1 << 30 }]));
    const id = uniqueId("rlimit");
    const r = polis(root, ["create", "--bundle", bundle, id]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("process.rlimits[0]");
    expect(r.stderr).toContain("EPERM");
    expect(polis(root, ["state", id]).code).toBe(1);
    rmSync(bundle, { recursive: true, force: true });
  });

  it("sets the five capability sets and noNewPrivileges", async () => {
    await withRunning(
      root,
      (c) => {
        const caps = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
        c.process.capabilities = {
          bounding: caps,
          effective: caps,
          permitted: caps,
          inheritable: ["CAP_KILL"],
          ambient: ["CAP_KILL"],
        };
        c.process.noNewPrivileges = true;
      },
      (_id, pid) => {
        // CAP_CHOWN=0, CAP_KILL=5, CAP_NET_BIND_SERVICE=10
        expect(status(pid, "CapBnd")).toBe("0000000000000421");
        expect(status(pid, "CapEff")).toBe("0000000000000421");
        expect(status(pid, "CapPrm")).toBe("0000000000000421");
        expect(status(pid, "CapInh")).toBe("0000000000000020");
        expect(status(pid, "CapAmb")).toBe("0000000000000020");
        expect(status(pid, "NoNewPrivs")).toBe("1");
      },
    );
  });

  it("sets oomScoreAdj, ioPriority, scheduler and personality", async () => {
    await withRunning(
      root,
      (c) => {
        c.process.oomScoreAdj = 500;
        c.process.ioPriority = { class: "IOPRIO_CLASS_IDLE", priority: 0 };
        c.process.scheduler = { policy: "SCHED_BATCH", nice: 5 };
        c.linux.personality = { domain: "LINUX32" };
      },
      (_id, pid) => {
        expect(readFileSync(`/proc/${pid}/oom_score_adj`, "utf8").trim()).toBe("500");
        expect(execFileSync("ionice", ["-p", String(pid)], { encoding: "utf8" }).trim()).toBe("idle");
        expect(execFileSync("chrt", ["-p", String(pid)], { encoding: "utf8" })).toContain("SCHED_BATCH");
        expect(readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ")[16]).toBe("5");
        expect(readFileSync(`/proc/${pid}/personality`, "utf8").trim()).toBe("00000008");
      },
    );
  });

  it("fails create when args[0] is missing or not executable", () => {
    for (const [arg0, why] of [
      ["/no/such/binary", "ENOENT"],
      ["/etc/passwd", "EACCES"],
    ]) {
      const bundle = busyboxBundle((c) => (c.process.args = [arg0]));
      const id = uniqueId("noexec");
      const r = polis(root, ["create", "--bundle", bundle, id]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("process.args[0]");
      expect(r.stderr).toContain(why);
      expect(polis(root, ["state", id]).code).toBe(1);
      rmSync(bundle, { recursive: true, force: true });
    }
  });
});

describe("hostname, domainname, sysctl", () => {
  it("sets them inside and leaves the host alone", () => {
    const hostForward = readFileSync("/proc/sys/net/ipv4/ip_forward", "utf8");
    const r = runScript(root, "hostname; cat /proc/sys/kernel/domainname; cat /proc/sys/net/ipv4/ip_forward", (c) => {
      c.hostname = "polis-box";
      c.domainname = "example.test";
      c.linux.sysctl = { "net.ipv4.ip_forward": hostForward.trim() === "1" ? "0" : "1" };
    });
    expect(r.code, r.stderr).toBe(0);
    const [hn, dn, fwd] = r.stdout.split("\n");
    expect(hn).toBe("polis-box");
    expect(dn).toBe("example.test");
    expect(fwd).not.toBe(hostForward.trim());
    expect(readFileSync("/proc/sys/net/ipv4/ip_forward", "utf8")).toBe(hostForward);
  });
});

describe("terminal", () => {
  it("sends the pty master over --console-socket with the console size", async () => {
    const dir = mkdtempSync(join(tmpdir(), "polis-console-"));
    const sock = join(dir, "console.sock");
    const receiver = spawn("python3", [join(REPO, "test", "helpers", "console_receiver.py"), sock], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    receiver.stdout.on("data", (d) => (out += d));
    await waitFor(() => out.includes("listening"));
    const id = uniqueId("tty");
    const bundle = busyboxBundle((c) => {
      c.process.terminal = true;
      c.process.consoleSize = { height: 33, width: 111 };
      c.process.args = ["sh", "-c", "tty; stty size"];
    });
    polisOk(root, ["create", "--bundle", bundle, "--console-socket", sock, id]);
    polisOk(root, ["start", id]);
    await new Promise((r) => receiver.on("exit", r));
    expect(out).toMatch(/rows=33 cols=111/);
    expect(out).toContain("/dev/pts/0");
    expect(out).toContain("33 111");
    polis(root, ["delete", "--force", id]);
    rmSync(bundle, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  });
});

describe("annotations", () => {
  it("keeps annotations in the state", async () => {
    await withRunning(
      root,
      (c) => (c.annotations = { "org.example.key": "value" }),
      (id) => {
        expect(JSON.parse(polisOk(root, ["state", id]).stdout).annotations).toEqual({ "org.example.key": "value" });
      },
    );
  });
});
