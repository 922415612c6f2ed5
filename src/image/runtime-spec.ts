// Image config -> config.json, as the image-spec's conversion document says: Entrypoint + Cmd
// (arguments from the user replace Cmd), Env, WorkingDir, User (names resolved through the
// rootfs's /etc/passwd and /etc/group), and Labels, ExposedPorts, StopSignal as annotations. The
// rest is `polis spec`'s defaults, with a writable root and no terminal.
import { lstatSync, readFileSync, readlinkSync } from "node:fs";
import { join, posix } from "node:path";
import { PolisError } from "../errors.js";
import { defaultSpec } from "../spec/default.js";
import type { Spec } from "../spec/types.js";
import type { ImageConfig } from "./image-config.js";

const DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export interface SpecOptions {
  /** the merged root filesystem, for /etc/passwd and /etc/group */
  rootfs: string;
  /** arguments after the id: replace Cmd */
  args?: string[];
  /** the container's hostname (its id) */
  hostname?: string;
  /** the image, for messages */
  image: string;
}

export function imageSpec(config: ImageConfig, o: SpecOptions): Spec {
  const c = config.config ?? {};
  const spec = defaultSpec();
  const p = spec.process!;
  const entrypoint = c.Entrypoint ?? [];
  const cmd = o.args && o.args.length ? o.args : (c.Cmd ?? []);
  p.args = [...entrypoint, ...cmd];
  if (p.args.length === 0)
    throw new PolisError(`${o.image}: the image has no Entrypoint or Cmd: give the command after the container id`);
  p.terminal = false;
  const env = c.Env ?? [];
  p.env = env.some((e) => e.startsWith("PATH=")) ? [...env] : [DEFAULT_PATH, ...env];
  p.cwd = c.WorkingDir || "/";
  if (!p.cwd.startsWith("/")) p.cwd = `/${p.cwd}`;
  p.user = resolveUser(c.User ?? "", o.rootfs, o.image);
  spec.root = { path: "rootfs", readonly: false };
  if (o.hostname) spec.hostname = o.hostname.slice(0, 63);
  const annotations: Record<string, string> = { ...(c.Labels ?? {}) };
  if (config.os) annotations["org.opencontainers.image.os"] = config.os;
  if (config.architecture) annotations["org.opencontainers.image.architecture"] = config.architecture;
  if (config.variant) annotations["org.opencontainers.image.variant"] = config.variant;
  if (config.author) annotations["org.opencontainers.image.author"] = config.author;
  if (config.created) annotations["org.opencontainers.image.created"] = config.created;
  if (c.StopSignal) annotations["org.opencontainers.image.stopSignal"] = c.StopSignal;
  if (c.ExposedPorts && Object.keys(c.ExposedPorts).length)
    annotations["org.opencontainers.image.exposedPorts"] = Object.keys(c.ExposedPorts).join(",");
  if (Object.keys(annotations).length) spec.annotations = annotations;
  return spec;
}

interface Ids {
  uid: number;
  gid: number;
  additionalGids?: number[];
}

/** "", "uid", "uid:gid", "name", "name:group" … as docker resolves them. */
export function resolveUser(user: string, rootfs: string, image: string): Ids {
  if (user === "") return { uid: 0, gid: 0 };
  const [u, g] = user.split(":", 2) as [string, string | undefined];
  const passwd = readTable(rootfs, "/etc/passwd");
  const groups = readTable(rootfs, "/etc/group");
  const numeric = (s: string) => /^\d+$/.test(s);
  let uid: number;
  let gid: number;
  let name: string | undefined;
  const entry = passwd.find((f) => (numeric(u) ? f[2] === u : f[0] === u));
  if (numeric(u)) {
    uid = Number(u);
    gid = entry ? Number(entry[3]) : 0;
    name = entry?.[0];
  } else {
    if (!entry) throw new PolisError(`${image}: config.User "${user}": no user "${u}" in the image's /etc/passwd`);
    uid = Number(entry[2]);
    gid = Number(entry[3]);
    name = u;
  }
  if (g !== undefined && g !== "") {
    if (numeric(g)) gid = Number(g);
    else {
      const ge = groups.find((f) => f[0] === g);
      if (!ge) throw new PolisError(`${image}: config.User "${user}": no group "${g}" in the image's /etc/group`);
      gid = Number(ge[2]);
    }
    return { uid, gid };
  }
  const extra = name
    ? groups
        .filter((f) => (f[3] ?? "").split(",").includes(name!))
        .map((f) => Number(f[2]))
        .filter((x) => x !== gid)
    : [];
  return extra.length ? { uid, gid, additionalGids: [...new Set(extra)] } : { uid, gid };
}

/** A colon-separated table from inside the rootfs (symlinks resolved inside it); missing = empty. */
function readTable(rootfs: string, path: string): string[][] {
  const real = resolveInRoot(rootfs, path);
  if (!real) return [];
  let text: string;
  try {
    text = readFileSync(real, "utf8");
  } catch {
    return [];
  }
  return text
    .split("\n")
    .filter((l) => l && !l.startsWith("#"))
    .map((l) => l.split(":"));
}

/** `path` inside `rootfs` with every symlink resolved as the container would see it; null if it does not exist. */
export function resolveInRoot(rootfs: string, path: string): string | null {
  let parts = path.split("/").filter(Boolean);
  const done: string[] = [];
  for (let hops = 0; parts.length; ) {
    const name = parts.shift()!;
    if (name === ".") continue;
    if (name === "..") {
      done.pop();
      continue;
    }
    const host = join(rootfs, ...done, name);
    let st;
    try {
      st = lstatSync(host);
    } catch {
      return null;
    }
    if (st.isSymbolicLink()) {
      if (++hops > 40) return null;
      const target = readlinkSync(host);
      if (target.startsWith("/")) done.length = 0;
      parts = [...posix.normalize(target).split("/").filter(Boolean), ...parts];
      continue;
    }
    done.push(name);
  }
  return join(rootfs, ...done);
}
