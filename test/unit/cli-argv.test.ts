// The fast parser: runc's grammar, every command's flags, and runc's exact error texts.
import { describe, expect, it } from "vitest";
import { parseArgv, UsageError, type Parsed } from "../../src/cli/argv.js";
import { COMMANDS } from "../../src/cli/commands.js";

function cmd(argv: string[]) {
  const p = parseArgv(argv);
  if (p.kind !== "command") throw new Error(`expected a command, got ${p.kind}`);
  return { name: p.command.name, o: p.options.values, given: p.options.given, args: p.args, g: p.global.values };
}

function usageError(argv: string[]): UsageError {
  try {
    parseArgv(argv);
  } catch (e) {
    if (e instanceof UsageError) return e;
    throw e;
  }
  throw new Error(`parsed without error: ${argv.join(" ")}`);
}

describe("global flags", () => {
  it("come before the command, in every spelling", () => {
    const c = cmd([
      "--root",
      "/r",
      "--log=/l.json",
      "--log-format",
      "json",
      "--debug",
      "--systemd-cgroup",
      "--rootless=true",
      "state",
      "x",
    ]);
    expect(c.g).toMatchObject({
      root: "/r",
      log: "/l.json",
      "log-format": "json",
      debug: true,
      "systemd-cgroup": true,
      rootless: "true",
    });
    expect(cmd(["-root", "/r2", "-debug=false", "state", "x"]).g).toMatchObject({ root: "/r2", debug: false });
  });

  it("have runc's defaults", () => {
    expect(cmd(["state", "x"]).g).toMatchObject({
      debug: false,
      "log-format": "text",
      rootless: "auto",
      root: undefined,
      log: undefined,
    });
  });

  it("containerd's exact prefix parses", () => {
    const c = cmd([
      "--root",
      "/run/containerd/runc/default",
      "--log",
      "/b/log.json",
      "--log-format",
      "json",
      "create",
      "--bundle",
      "/b",
      "--pid-file",
      "/b/init.pid",
      "id1",
    ]);
    expect(c).toMatchObject({ name: "create", args: ["id1"], o: { bundle: "/b", "pid-file": "/b/init.pid" } });
    expect(c.g).toMatchObject({ log: "/b/log.json", "log-format": "json" });
  });

  it("--version/-v and --help/-h", () => {
    expect(parseArgv(["--version"]).kind).toBe("version");
    expect(parseArgv(["-v"]).kind).toBe("version");
    expect(parseArgv(["--help"]).kind).toBe("help");
    expect(parseArgv(["-h", "state"])).toSatisfy((p: Parsed) => p.kind === "help" && p.topic === undefined);
    expect(parseArgv([]).kind).toBe("help");
  });

  it("an unknown global flag fails with runc's text", () => {
    const e = usageError(["--foo", "state", "x"]);
    expect(e.message).toBe("polis: flag provided but not defined: -foo");
    expect(e.flagProblem).toBe("flag provided but not defined: -foo");
    expect(e.command).toBeUndefined();
    expect(usageError(["--root"]).message).toBe("polis: flag needs an argument: -root");
    expect(usageError(["--debug=maybe", "list"]).message).toBe('polis: invalid boolean value "maybe" for -debug: parse error');
  });

  it("a global flag after the command is the command's problem", () => {
    expect(usageError(["state", "--root", "/r", "x"]).message).toBe("polis state: flag provided but not defined: -root");
  });
});

describe("commands", () => {
  it("unknown commands and checkpoint/restore: runc's 'No help topic', exit 3", () => {
    for (const argv of [["bogus"], ["checkpoint", "--help"], ["restore", "x"], ["help", "checkpoint"]]) {
      const e = usageError(argv);
      expect(e.exitCode).toBe(3);
      expect(e.message).toBe(`No help topic for '${argv[0] === "help" ? argv[1] : argv[0]}'`);
    }
  });

  it("help for a command: --help, -h, help <cmd>, h <cmd>", () => {
    for (const argv of [
      ["state", "--help"],
      ["state", "-h"],
      ["help", "state"],
      ["h", "state"],
      ["state", "x", "--help"],
    ]) {
      const p = parseArgv(argv) as Extract<Parsed, { kind: "help" }>;
      expect(p.kind).toBe("help");
      expect(p.topic?.name).toBe("state");
    }
    expect(parseArgv(["help"])).toSatisfy((p: Parsed) => p.kind === "help" && p.topic === undefined);
  });

  it("create and run take every runc flag", () => {
    const c = cmd([
      "create",
      "-b",
      "bun",
      "--console-socket=/s.sock",
      "--pid-file",
      "p",
      "--no-pivot",
      "--no-new-keyring",
      "--preserve-fds",
      "2",
      "id",
    ]);
    expect(c.o).toMatchObject({
      bundle: "bun",
      "console-socket": "/s.sock",
      "pid-file": "p",
      "no-pivot": true,
      "no-new-keyring": true,
      "preserve-fds": 2,
    });
    const r = cmd(["run", "-d", "--keep", "--no-subreaper", "--bundle=/b", "id"]);
    expect(r.o).toMatchObject({
      detach: true,
      keep: true,
      "no-subreaper": true,
      bundle: "/b",
      "no-pivot": false,
      "preserve-fds": 0,
    });
  });

  it("kill: --all/-a, optional signal, at most 2 arguments", () => {
    expect(cmd(["kill", "--all", "id", "9"])).toMatchObject({ o: { all: true }, args: ["id", "9"] });
    expect(cmd(["kill", "-a", "id"])).toMatchObject({ o: { all: true }, args: ["id"] });
    expect(cmd(["kill", "id"])).toMatchObject({ o: { all: false }, args: ["id"] });
    expect(usageError(["kill"]).message).toBe('polis: "kill" requires a minimum of 1 argument(s)');
    expect(usageError(["kill", "a", "b", "c"]).message).toBe('polis: "kill" requires a maximum of 2 argument(s)');
  });

  it("like runc, known flags after the positionals still count (delete nope -f)", () => {
    expect(cmd(["delete", "id", "-f"])).toMatchObject({ o: { force: true }, args: ["id"] });
    expect(cmd(["delete", "--force", "id"])).toMatchObject({ o: { force: true }, args: ["id"] });
    // …but an unknown one is an extra argument, so the count check rejects it
    expect(usageError(["delete", "id", "--bogus"]).message).toBe('polis: "delete" requires exactly 1 argument(s)');
  });

  it("exact argument counts use runc's wording", () => {
    for (const name of ["create", "start", "state", "delete", "run", "pause", "resume", "update", "events"]) {
      const e = usageError([name]);
      expect(e.message).toBe(`polis: "${name}" requires exactly 1 argument(s)`);
      expect(e.command?.name).toBe(name);
      expect(usageError([name, "a", "b"]).message).toBe(`polis: "${name}" requires exactly 1 argument(s)`);
    }
    for (const name of ["list", "spec", "features"]) {
      expect(usageError([name, "x"]).message).toBe(`polis: "${name}" requires exactly 0 argument(s)`);
    }
    expect(usageError(["exec"]).message).toBe('polis: "exec" requires a minimum of 1 argument(s)');
    expect(usageError(["ps"]).message).toBe('polis: "ps" requires a minimum of 1 argument(s)');
  });

  it("unknown command flags fail loudly with runc's text", () => {
    const e = usageError(["create", "--foo", "x"]);
    expect(e.message).toBe("polis create: flag provided but not defined: -foo");
    expect(e.flagProblem).toBe("flag provided but not defined: -foo");
    expect(e.command?.name).toBe("create");
    expect(e.exitCode).toBe(1);
    // no short-option bundling, as urfave/cli in runc
    expect(usageError(["delete", "-fa", "x"]).message).toBe("polis delete: flag provided but not defined: -fa");
    expect(usageError(["create", "--bundle"]).message).toBe("polis create: flag needs an argument: -bundle");
    expect(usageError(["create", "--preserve-fds", "abc", "x"]).message).toBe(
      'polis create: invalid value "abc" for flag -preserve-fds: parse error',
    );
    expect(usageError(["create", "---x", "x"]).message).toBe("polis create: bad flag syntax: ---x");
  });

  it("exec: flags, then the id, then the command with its own flags untouched", () => {
    const c = cmd([
      "exec",
      "--process",
      "/p.json",
      "--detach",
      "--pid-file",
      "/x.pid",
      "--tty",
      "--console-socket",
      "/t.sock",
      "-e",
      "A=1",
      "--env=B=2",
      "-u",
      "65534:65534",
      "--cwd",
      "/tmp",
      "-c",
      "CAP_NET_ADMIN",
      "--cap",
      "CAP_CHOWN",
      "-g",
      "10",
      "-g",
      "11",
      "--no-new-privs",
      "--apparmor",
      "unconfined",
      "--process-label",
      "l",
      "--preserve-fds=1",
      "--cgroup",
      "memory:sub",
      "--ignore-paused",
      "id",
      "sh",
      "-c",
      "--help",
      "-d",
    ]);
    expect(c.args).toEqual(["id", "sh", "-c", "--help", "-d"]);
    expect(c.o).toEqual({
      process: "/p.json",
      detach: true,
      "pid-file": "/x.pid",
      tty: true,
      "console-socket": "/t.sock",
      env: ["A=1", "B=2"],
      user: "65534:65534",
      cwd: "/tmp",
      cap: ["CAP_NET_ADMIN", "CAP_CHOWN"],
      "additional-gids": ["10", "11"],
      "no-new-privs": true,
      apparmor: "unconfined",
      "process-label": "l",
      "preserve-fds": 1,
      cgroup: ["memory:sub"],
      "ignore-paused": true,
    });
    // conmon's order
    expect(
      cmd(["exec", "--pid-file", "/e.pid", "--process", "/p", "--detach", "--tty", "--console-socket", "/c", "id"]).args,
    ).toEqual(["id"]);
  });

  it("ps: --format/-f and ps options after the id or after --", () => {
    expect(cmd(["ps", "--format", "json", "id"])).toMatchObject({ o: { format: "json" }, args: ["id"] });
    expect(cmd(["ps", "-f", "table", "id", "-o", "pid"])).toMatchObject({ o: { format: "table" }, args: ["id", "-o", "pid"] });
    expect(cmd(["ps", "id", "--", "-ef"])).toMatchObject({ o: { format: "table" }, args: ["id", "-ef"] });
  });

  it("everything after -- is positional", () => {
    expect(cmd(["delete", "--", "-f"])).toMatchObject({ o: { force: false }, args: ["-f"] });
    expect(cmd(["kill", "id", "--", "-a"])).toMatchObject({ o: { all: false }, args: ["id", "-a"] });
    expect(cmd(["--root", "/r", "--", "state", "x"])).toMatchObject({ name: "state", args: ["x"] });
    expect(cmd(["state", "-"]).args).toEqual(["-"]);
  });

  it("list: --format/-f, --quiet/-q, booleans with =", () => {
    expect(cmd(["list"]).o).toEqual({ format: "table", quiet: false });
    expect(cmd(["list", "-f", "json", "-q=true"]).o).toEqual({ format: "json", quiet: true });
    expect(cmd(["list", "--quiet=false"]).o).toEqual({ format: "table", quiet: false });
  });

  it("update: podman's --resources=FILE and runc's flags, recording what was given", () => {
    expect(cmd(["update", "--resources=/var/tmp/podman1", "id"])).toMatchObject({
      o: { resources: "/var/tmp/podman1" },
      args: ["id"],
    });
    const c = cmd(["update", "-r", "-", "--memory", "64m", "--memory-swap", "-1", "--pids-limit", "10", "--cpu-quota=-1", "id"]);
    expect(c.o).toMatchObject({
      resources: "-",
      memory: "64m",
      "memory-swap": "-1",
      "pids-limit": 10,
      "cpu-quota": "-1",
      "blkio-weight": 0,
    });
    expect([...c.given].sort()).toEqual(["cpu-quota", "memory", "memory-swap", "pids-limit", "resources"]);
  });

  it("events, spec, features, pause, resume, start, state", () => {
    expect(cmd(["events", "--stats", "--interval", "1s", "id"]).o).toMatchObject({ stats: true, interval: "1s", all: false });
    expect(cmd(["events", "id"]).o).toMatchObject({ stats: false, interval: "5s" });
    expect(cmd(["events", "--all"]).args).toEqual([]);
    expect(usageError(["events"]).message).toBe('polis: "events" requires exactly 1 argument(s)');
    expect(cmd(["spec", "-b", "/b", "--rootless"]).o).toEqual({ bundle: "/b", rootless: true });
    expect(cmd(["features"]).args).toEqual([]);
    for (const name of ["pause", "resume", "start", "state"]) expect(cmd([name, "id"])).toMatchObject({ name, args: ["id"] });
    expect(usageError(["pause", "--all", "id"]).message).toBe("polis pause: flag provided but not defined: -all");
  });

  it("every option in the table parses in both --name=v and -alias v forms", () => {
    for (const c of COMMANDS) {
      if (c.name === "help") continue;
      for (const o of c.options) {
        const min = c.argsWithFlag?.flag === o.name ? c.argsWithFlag.minArgs : c.minArgs;
        const pos = Array.from({ length: min }, (_, i) => `p${i}`);
        const sample = o.type === "number" ? "7" : o.type === "boolean" ? "true" : "v";
        const expected = o.type === "number" ? 7 : o.type === "boolean" ? true : o.type === "strings" ? ["v"] : "v";
        expect(cmd([c.name, `--${o.name}=${sample}`, ...pos]).o[o.name]).toEqual(expected);
        if (o.alias) {
          const argv = o.type === "boolean" ? [c.name, `-${o.alias}`, ...pos] : [c.name, `-${o.alias}`, sample, ...pos];
          expect(cmd(argv).o[o.name]).toEqual(expected);
        }
      }
    }
  });
});
