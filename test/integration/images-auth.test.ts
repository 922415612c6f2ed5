// Registry authentication for real: docker-registry behind htpasswd (Basic) and behind a token
// server fixture (Bearer JWTs), pulls with --creds, with `polis login` and with docker's and
// containers' auth files; credentials never show in output or --debug logs.

import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hostPlatform } from "../../src/image/manifest.js";
import { OciLayout, pushAsync } from "../helpers/oci-layout.js";
import { polis, polisOk, tempRoot } from "../helpers/polis.js";
import { startRegistry, startTokenServer, type TestRegistry, type TokenServer } from "../helpers/registry.js";
import { writeTar } from "../helpers/tarball.js";

const work = mkdtempSync(join(tmpdir(), "polis-auth-"));
const PASSWORD = "s3cret-Pa55word";
let basic: TestRegistry;
let bearer: TestRegistry;
let tokens: TokenServer;
let publicBearer: TestRegistry;
let publicTokens: TokenServer;
let layoutDir: string;
const roots: string[] = [];
const root = () => {
  const r = tempRoot();
  roots.push(r);
  return r;
};
/** An environment with its own HOME, so no real auth file is read or written. */
function homeEnv(): Record<string, string> {
  const home = mkdtempSync(join(work, "home-"));
  return { HOME: home, XDG_CONFIG_HOME: "", XDG_RUNTIME_DIR: "", REGISTRY_AUTH_FILE: "", DOCKER_CONFIG: "", POLIS_AUTH_FILE: "" };
}

beforeAll(async () => {
  basic = await startRegistry({ htpasswd: { user: "alice", password: PASSWORD } });
  tokens = await startTokenServer({ alice: PASSWORD }, false);
  bearer = await startRegistry({ token: tokens });
  const layout = new OciLayout(join(work, "oci"));
  layoutDir = layout.dir;
  const tiny = layout.layer(writeTar(join(work, "t.tar"), [{ name: "hello", data: "hi" }]), "gzip");
  layout.image({ layers: [tiny], config: { Cmd: ["true"] }, arch: hostPlatform().architecture, tag: "t" });
  await pushAsync(layout.dir, "t", `docker://${basic.host}/private/app:1`, ["--dest-creds", `alice:${PASSWORD}`]);
  await pushAsync(layout.dir, "t", `docker://${bearer.host}/private/app:1`, ["--dest-creds", `alice:${PASSWORD}`]);
  publicTokens = await startTokenServer({ alice: PASSWORD }, true);
  publicBearer = await startRegistry({ token: publicTokens });
  await pushAsync(layout.dir, "t", `docker://${publicBearer.host}/library/app:1`, ["--dest-creds", `alice:${PASSWORD}`]);
}, 120_000);

afterAll(async () => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
  await basic?.stop();
  await bearer?.stop();
  await tokens?.stop();
  await publicBearer?.stop();
  await publicTokens?.stop();
  rmSync(work, { recursive: true, force: true });
});

const noSecret = (r: { stdout: string; stderr: string }) => {
  const b64 = Buffer.from(`alice:${PASSWORD}`).toString("base64");
  for (const text of [r.stdout, r.stderr]) {
    expect(text).not.toContain(PASSWORD);
    expect(text).not.toContain(b64);
    expect(text).not.toMatch(/eyJ[\w-]+\.eyJ/); // a bearer token (a JWT) is a credential too
  }
};

describe("Basic auth (htpasswd)", () => {
  it("without credentials: a one-line error naming polis login", () => {
    const r = polis(root(), ["pull", "-q", "--tls-verify=false", `${basic.host}/private/app:1`], { env: homeEnv() });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/authentication required \(polis login 127\.0\.0\.1:\d+, or --creds\)"\n$/);
  });

  it("a wrong password is refused; the right one pulls; neither is ever printed, even with --debug", () => {
    const env = homeEnv();
    const bad = polis(
      root(),
      ["--debug", "pull", "-q", "--tls-verify=false", "--creds", "alice:wrong", `${basic.host}/private/app:1`],
      { env },
    );
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/level=error msg="127\.0\.0\.1:\d+: unauthorized: wrong username or password"\n$/);
    const good = polis(
      root(),
      ["--debug", "pull", "--tls-verify=false", "--creds", `alice:${PASSWORD}`, `${basic.host}/private/app:1`],
      { env },
    );
    expect(good.code).toBe(0);
    noSecret(good);
  });

  it("login stores the credentials (mode 0600) after checking them, pull uses them, logout removes them", () => {
    const env = homeEnv();
    const wrong = polis(root(), ["login", "--tls-verify=false", "-u", "alice", "--password-stdin", basic.host], {
      env,
      input: "nope\n",
    });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/wrong username or password/);
    const ok = polis(root(), ["--debug", "login", "--tls-verify=false", "-u", "alice", "--password-stdin", basic.host], {
      env,
      input: `${PASSWORD}\n`,
    });
    expect(ok).toMatchObject({ code: 0, stdout: expect.stringMatching(/^Login Succeeded!/) });
    noSecret(ok);
    const file = join(env.HOME, ".config", "polis", "auth.json");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(file, "..")).mode & 0o077).toBe(0);
    expect(polis(root(), ["pull", "-q", "--tls-verify=false", `${basic.host}/private/app:1`], { env }).code).toBe(0);
    expect(polisOk(root(), ["logout", basic.host], { env }).stdout).toBe(`Removed login credentials for ${basic.host}\n`);
    expect(polis(root(), ["pull", "-q", "--tls-verify=false", `${basic.host}/private/app:1`], { env }).code).toBe(1);
    expect(polis(root(), ["logout", basic.host], { env }).stderr).toMatch(/not logged into/);
  });

  it("reads docker's config.json and containers' auth.json (read only), also where the environment points", () => {
    const places: [string, (home: string) => Record<string, string>][] = [
      [".docker/config.json", () => ({})],
      [".config/containers/auth.json", () => ({})],
      ["elsewhere/auth.json", (home) => ({ REGISTRY_AUTH_FILE: join(home, "elsewhere/auth.json") })],
      ["run/containers/auth.json", (home) => ({ XDG_RUNTIME_DIR: join(home, "run") })],
      ["xdg/containers/auth.json", (home) => ({ XDG_CONFIG_HOME: join(home, "xdg") })],
      ["dockercfg/config.json", (home) => ({ DOCKER_CONFIG: join(home, "dockercfg") })],
    ];
    for (const [where, vars] of places) {
      const base = homeEnv();
      const env = { ...base, ...vars(base.HOME) };
      const file = join(env.HOME, where);
      mkdirSync(join(file, ".."), { recursive: true });
      const text = JSON.stringify({ auths: { [basic.host]: { auth: Buffer.from(`alice:${PASSWORD}`).toString("base64") } } });
      writeFileSync(file, text);
      expect(polis(root(), ["pull", "-q", "--tls-verify=false", `${basic.host}/private/app:1`], { env }).code).toBe(0);
      expect(readFileSync(file, "utf8")).toBe(text);
    }
  });
});

describe("Bearer tokens (token server fixture)", () => {
  it("anonymous pull is refused by the token server with a clear error", () => {
    const r = polis(root(), ["pull", "-q", "--tls-verify=false", `${bearer.host}/private/app:1`], { env: homeEnv() });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/authentication required \(polis login/);
  });

  it("gets one token per repository scope with the credentials, and reuses it for every request", () => {
    tokens.clear();
    const r = polis(
      root(),
      ["--debug", "pull", "-q", "--tls-verify=false", "--creds", `alice:${PASSWORD}`, `${bearer.host}/private/app:1`],
      { env: homeEnv() },
    );
    expect(r.code).toBe(0);
    noSecret(r);
    expect(tokens.requests()).toEqual([{ scope: ["repository:private/app:pull"], service: tokens.service, user: "alice" }]);
  });

  it("a wrong password: the token server says no, and so does polis", () => {
    tokens.clear();
    const r = polis(root(), ["pull", "-q", "--tls-verify=false", "--creds", "alice:wrong", `${bearer.host}/private/app:1`], {
      env: homeEnv(),
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/: unauthorized: wrong username or password"\n$/);
    expect(tokens.requests().map((q) => q.user)).toEqual(["alice (rejected)"]);
  });
});

describe("anonymous Bearer tokens (a public repository, as on Docker Hub)", () => {
  it("pulls without credentials: one anonymous pull-scoped token, reused", () => {
    publicTokens.clear();
    const r = polis(root(), ["pull", "-q", "--tls-verify=false", `${publicBearer.host}/library/app:1`], { env: homeEnv() });
    expect(r).toMatchObject({ code: 0, stderr: "" });
    expect(publicTokens.requests()).toEqual([
      { scope: ["repository:library/app:pull"], service: publicTokens.service, user: null },
    ]);
  });
});
