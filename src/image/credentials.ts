// Registry credentials: polis's own auth file (written by `polis login`, mode 0600), then, read
// only, containers' auth.json and docker's config.json, as podman and skopeo look them up. The
// values never reach a log line or an error message.
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { PolisError } from "../errors.js";
import { DOCKER_HUB } from "./reference.js";

export interface Credentials {
  username: string;
  password: string;
}

type AuthFile = { auths?: Record<string, { auth?: string; username?: string; password?: string }> } & Record<string, unknown>;

/** polis's own file: $POLIS_AUTH_FILE, else $XDG_CONFIG_HOME/polis/auth.json, else ~/.config/polis/auth.json. */
export function polisAuthFile(env: Record<string, string | undefined> = process.env): string {
  if (env.POLIS_AUTH_FILE) return env.POLIS_AUTH_FILE;
  const config = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), ".config");
  return join(config, "polis", "auth.json");
}

/** Where credentials are looked for, first match wins. */
export function authFiles(env: Record<string, string | undefined> = process.env): string[] {
  const home = env.HOME || homedir();
  const files = [polisAuthFile(env)];
  if (env.REGISTRY_AUTH_FILE) files.push(env.REGISTRY_AUTH_FILE);
  if (env.XDG_RUNTIME_DIR) files.push(join(env.XDG_RUNTIME_DIR, "containers", "auth.json"));
  files.push(join(env.XDG_CONFIG_HOME || join(home, ".config"), "containers", "auth.json"));
  files.push(join(env.DOCKER_CONFIG || join(home, ".docker"), "config.json"));
  return files;
}

/** Keys an auth file may use for `registry` (most specific first), as containers/image accepts them. */
function keysFor(registry: string, repository: string): string[] {
  const keys: string[] = [];
  const parts = repository.split("/");
  for (let i = parts.length; i > 0; i--) keys.push(`${registry}/${parts.slice(0, i).join("/")}`);
  keys.push(registry, `https://${registry}`, `http://${registry}`);
  if (registry === DOCKER_HUB) keys.push("https://index.docker.io/v1/", "index.docker.io", "registry-1.docker.io");
  return keys;
}

export function findCredentials(
  registry: string,
  repository: string,
  env: Record<string, string | undefined> = process.env,
): Credentials | undefined {
  const keys = keysFor(registry, repository);
  for (const file of authFiles(env)) {
    const auths = readAuthFile(file)?.auths;
    if (!auths) continue;
    for (const key of keys) {
      const entry = auths[key] ?? auths[`${key}/`];
      const creds = entry && decode(entry);
      if (creds) return creds;
    }
  }
  return undefined;
}

function decode(entry: { auth?: string; username?: string; password?: string }): Credentials | undefined {
  if (entry.username && entry.password !== undefined) return { username: entry.username, password: entry.password };
  if (!entry.auth) return undefined;
  const text = Buffer.from(entry.auth, "base64").toString("utf8");
  const colon = text.indexOf(":");
  if (colon <= 0) return undefined;
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

function readAuthFile(file: string): AuthFile | undefined {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
  try {
    return JSON.parse(text) as AuthFile;
  } catch {
    throw new PolisError(`credentials file ${file}: not valid JSON`);
  }
}

/** Store (or, with `creds` undefined, remove) `registry`'s entry in polis's own file. Returns false when there was nothing to remove. */
export function saveCredentials(
  registry: string,
  creds: Credentials | undefined,
  env: Record<string, string | undefined> = process.env,
): boolean {
  const file = polisAuthFile(env);
  const doc: AuthFile = readAuthFile(file) ?? {};
  const auths = (doc.auths ??= {});
  if (!creds) {
    if (!(registry in auths)) return false;
    delete auths[registry];
  } else {
    auths[registry] = { auth: Buffer.from(`${creds.username}:${creds.password}`).toString("base64") };
  }
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  // created 0600 (never readable by others, not even for a moment), then renamed over the old one
  writeFileSync(tmp, JSON.stringify(doc, null, 2) + "\n", { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
  return true;
}

/** `--creds user:password` */
export function parseCreds(text: string): Credentials {
  const colon = text.indexOf(":");
  if (colon <= 0) throw new PolisError("--creds: must be USERNAME:PASSWORD");
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}
