// `polis login [-u USER] [-p PASS | --password-stdin] REGISTRY` and `polis logout REGISTRY`.
// The password is checked against the registry before it is saved, and never echoed or logged.
import { readFileSync } from "node:fs";
import { PolisError } from "../errors.js";
import { bool, str, type CliContext } from "./context.js";

export async function run(ctx: CliContext): Promise<void> {
  const registry = normalise(ctx.args[0]);
  const username = str(ctx, "username");
  let password = str(ctx, "password");
  if (bool(ctx, "password-stdin")) {
    if (password !== undefined) throw new PolisError("--password and --password-stdin are mutually exclusive");
    password = readFileSync(0, "utf8").replace(/\r?\n$/, "");
  }
  if (!username) throw new PolisError("login: --username is required (polis does not prompt)");
  if (password === undefined || password === "")
    throw new PolisError("login: give the password with --password-stdin (or --password)");
  const { checkLogin } = await import("../image/login.js");
  const { registries } = await import("../image/api.js");
  await checkLogin(
    registry,
    { username, password },
    await registries(ctx.global, ctx.io.env),
    ctx.options["tls-verify"] !== false,
  );
  const { saveCredentials, polisAuthFile } = await import("../image/credentials.js");
  saveCredentials(registry, { username, password }, ctx.io.env);
  ctx.io.stdout(`Login Succeeded! (${polisAuthFile(ctx.io.env)})\n`);
}

export async function logout(ctx: CliContext): Promise<void> {
  const registry = normalise(ctx.args[0]);
  const { saveCredentials } = await import("../image/credentials.js");
  if (!saveCredentials(registry, undefined, ctx.io.env)) throw new PolisError(`not logged into ${registry}`);
  ctx.io.stdout(`Removed login credentials for ${registry}\n`);
}

/** "https://quay.io/" -> "quay.io"; Docker Hub's aliases -> docker.io */
function normalise(r: string): string {
  const host = r.replace(/^https?:\/\//, "").replace(/\/.*$/, "");
  return host === "index.docker.io" || host === "registry-1.docker.io" ? "docker.io" : host;
}
