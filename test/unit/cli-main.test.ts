// main(argv) end to end in-process, with captured stdout/stderr: exit codes and runc's texts.
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CommandFailed } from "../../src/cli/context.js";
import { run as execRun } from "../../src/cli/exec.js";
import { configureLog } from "../../src/log.js";
import { PolisError } from "../../src/errors.js";
import { defaultRoot, fatal, main } from "../../src/main.js";
import { DEFAULT_ROOT } from "../../src/paths.js";

const tmp = mkdtempSync(join(tmpdir(), "polis-cli-main-"));
afterAll(() => {
  configureLog({ format: "text", debug: false });
  rmSync(tmp, { recursive: true, force: true });
});

async function polis(argv: string[], env: Record<string, string | undefined> = {}) {
  let stdout = "";
  let stderr = "";
  const code = await main(argv, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), env, cwd: () => tmp });
  return { code, stdout, stderr };
}

const TEXT_ERROR = (msg: string) => new RegExp(`^time="[^"]+" level=error msg=${msg.replace(/[\\^$.*+?()[\]{}|]/g, "\\$&")}\\n$`);

describe("main", () => {
  it("--version prints version, commit and spec", async () => {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8"));
    for (const flag of ["--version", "-v"]) {
      const r = await polis([flag]);
      expect(r).toEqual({ code: 0, stdout: `polis version ${pkg.version}\ncommit: unknown\nspec: 1.3.0\n`, stderr: "" });
    }
  });

  it("--help renders every command; <cmd> --help renders its flags", async () => {
    const top = await polis(["--help"]);
    expect(top.code).toBe(0);
    for (const c of [
      "create",
      "start",
      "state",
      "kill",
      "delete",
      "run",
      "exec",
      "list",
      "ps",
      "pause",
      "resume",
      "update",
      "events",
      "spec",
      "features",
    ]) {
      expect(top.stdout).toMatch(new RegExp(`polis ${c}\\s`));
    }
    expect(top.stdout).not.toContain("checkpoint");
    expect(top.stdout).toContain("--log-format");
    const kill = await polis(["kill", "--help"]);
    expect(kill.code).toBe(0);
    expect(kill.stdout).toContain("polis kill [command options] <container-id> [signal]");
    expect(kill.stdout).toMatch(/-a, --all/);
    expect((await polis(["help", "exec"])).stdout).toMatch(/-e, --env/);
  }, 20_000);

  it("checkpoint is not a command: exit non-zero, as podman's probe expects", async () => {
    const r = await polis(["checkpoint", "--help"]);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(TEXT_ERROR(`"No help topic for 'checkpoint'"`));
  });

  it("a wrong argument count: Incorrect Usage on stdout, runc's message on stderr, exit 1", async () => {
    const r = await polis(["state"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(
      "Incorrect Usage.\n\nUSAGE:\n   polis state <container-id>\n\nRun 'polis state --help' for more information.\n",
    );
    expect(r.stderr).toMatch(TEXT_ERROR(`"polis: \\"state\\" requires exactly 1 argument(s)"`));
  });

  it("unknown flags fail loudly", async () => {
    const r = await polis(["create", "--foo", "x"]);
    expect(r.code).toBe(1);
    expect(r.stdout.split("\n")[0]).toBe("Incorrect Usage: flag provided but not defined: -foo");
    expect(r.stdout).toContain("polis create [command options] <container-id>");
    expect(r.stderr).toMatch(TEXT_ERROR(`"polis create: flag provided but not defined: -foo"`));
    const g = await polis(["--foo", "list"]);
    expect(g.code).toBe(1);
    expect(g.stdout.split("\n")[0]).toBe("Incorrect Usage. flag provided but not defined: -foo");
  });

  it("with --log FILE --log-format json: a JSON line in the file, the plain message on stderr", async () => {
    const file = join(tmp, "usage-log.json");
    const r = await polis(["--log", file, "--log-format", "json", "state"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('polis: "state" requires exactly 1 argument(s)\n');
    const line = JSON.parse(readFileSync(file, "utf8"));
    expect(line).toMatchObject({ level: "error", msg: 'polis: "state" requires exactly 1 argument(s)' });
    expect(line.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$/);
  });

  it("--log-format json without --log: JSON on stderr; a relative --log is resolved against cwd", async () => {
    const r = await polis(["--log-format=json", "kill", "x", "FOO"]);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stderr)).toMatchObject({ level: "error", msg: 'invalid signal "FOO"' });
    const rel = await polis(["--log", "rel.log", "kill", "x", "BAR"]);
    expect(rel.stderr).toBe('invalid signal "BAR"\n');
    expect(readFileSync(join(tmp, "rel.log"), "utf8")).toMatch(TEXT_ERROR(`"invalid signal \\"BAR\\""`));
  });

  it("rejects bad global values", async () => {
    const f = await polis(["--log-format", "xml", "list"]);
    expect(f.code).toBe(1);
    expect(f.stderr).toMatch(TEXT_ERROR(`"invalid log-format: xml"`));
    const r = await polis(["--rootless", "maybe", "list"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(TEXT_ERROR(`"invalid value \\"maybe\\" for flag -rootless: must be true, false or auto"`));
  });

  it("--rootless true is refused until rootless mode exists; false and auto run as root", async () => {
    const t = await polis(["--rootless=true", "list"]);
    expect(t.code).toBe(1);
    expect(t.stderr).toContain("--rootless true: rootless mode is not supported yet");
    for (const v of ["false", "auto"])
      expect((await polis([`--rootless=${v}`, "--root", join(tmp, "rl"), "list"])).code, v).toBe(0);
  });

  it("state of a missing container: runc's text, exit 1, with an empty environment", async () => {
    const root = join(tmp, "root");
    const r = await polis(["--root", root, "state", "nope"], {});
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(TEXT_ERROR(`"container does not exist"`));
  });

  it("list on an empty root prints runc's header only", async () => {
    const r = await polis(["--root", join(tmp, "root-list"), "list"]);
    expect(r).toMatchObject({ code: 0, stdout: "ID          PID         STATUS      BUNDLE      CREATED     OWNER\n" });
    const j = await polis(["--root", join(tmp, "root-list"), "list", "--format", "json"]);
    expect(j.stdout).toBe("null\n");
    expect((await polis(["--root", join(tmp, "root-list"), "list", "--format", "yaml"])).stderr).toMatch(
      TEXT_ERROR(`"invalid format option"`),
    );
  });

  it("spec writes config.json into --bundle (relative to cwd) and never overwrites it", async () => {
    const r = await polis(["spec", "--bundle", "."]);
    expect(r.code).toBe(0);
    const spec = JSON.parse(readFileSync(join(tmp, "config.json"), "utf8"));
    expect(spec.ociVersion).toBe("1.3.0");
    expect(readFileSync(join(tmp, "config.json"), "utf8")).toContain('\n\t"ociVersion"');
    const again = await polis(["spec"]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(TEXT_ERROR(`"File config.json exists. Remove it first"`));
  });

  it("features prints JSON", async () => {
    const r = await polis(["features"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ociVersionMax: "1.3.0" });
  });

  it("--debug prints the stack of an unexpected error only", () => {
    const lines: string[] = [];
    const io = { stdout: () => {}, stderr: (t: string) => lines.push(t), env: {}, cwd: () => tmp };
    configureLog({ format: "text", debug: true, stderr: io.stderr });
    expect(fatal(new TypeError("boom"), io, false)).toBe(1);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(TEXT_ERROR("boom"));
    lines.length = 0;
    expect(fatal(new TypeError("boom"), io, true)).toBe(1);
    expect(lines[1]).toMatch(/^TypeError: boom\n\s+at /);
    lines.length = 0;
    expect(fatal(new PolisError("mounts[0].destination: must be absolute"), io, true)).toBe(1);
    expect(lines).toHaveLength(1);
    expect(fatal(new CommandFailed("exec failed: x", {}, 255), io, false)).toBe(255);
  });
});

describe("exec exit codes", () => {
  it("exec itself failing is 255 with runc's 'exec failed:' prefix", async () => {
    const ctx = {
      global: { root: tmp, logFormat: "text" as const, debug: false, systemdCgroup: false },
      options: {},
      given: new Set<string>(),
      args: ["id"],
      io: { stdout: () => {}, stderr: () => {}, env: {}, cwd: () => tmp },
    };
    const e = await execRun(ctx).catch((x) => x);
    expect(e).toBeInstanceOf(CommandFailed);
    expect(e.exitCode).toBe(255);
    expect(e.message).toBe("exec failed: process args cannot be empty");
  });
});

describe("defaultRoot", () => {
  it("honours XDG_RUNTIME_DIR only for non-root callers and only when set", () => {
    expect(defaultRoot({}, 0)).toBe(DEFAULT_ROOT);
    expect(defaultRoot({ XDG_RUNTIME_DIR: "/run/user/0" }, 0)).toBe(DEFAULT_ROOT);
    expect(defaultRoot({ XDG_RUNTIME_DIR: "" }, 1000)).toBe(DEFAULT_ROOT);
    expect(defaultRoot({ XDG_RUNTIME_DIR: "/run/user/1000" }, 1000)).toBe("/run/user/1000/polis");
    expect(existsSync(DEFAULT_ROOT) || true).toBe(true);
  });
});
