// Image references, parsed and normalised by docker's rules (distribution/reference):
//   busybox                      -> docker.io/library/busybox:latest
//   quay.io/a/b@sha256:<64 hex>  -> pulled by digest, no tag
//   localhost:5000/x:1           -> a registry is the first component when it has a '.' or ':'
//                                   or is "localhost"
import { PolisError } from "../errors.js";

export const DOCKER_HUB = "docker.io";
/** Where docker.io's API really lives. */
export const DOCKER_HUB_API = "registry-1.docker.io";

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN =
  /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;

export interface Reference {
  /** Registry host as users write it (docker.io, localhost:5000). */
  registry: string;
  /** Repository path inside the registry (library/busybox). */
  repository: string;
  tag?: string;
  digest?: string;
}

/** Parse and normalise; a reference with neither tag nor digest gets `latest`. */
export function parseReference(input: string): Reference {
  const bad = (why: string) => new PolisError(`invalid image reference "${input}": ${why}`);
  if (input === "") throw bad("empty");
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw bad(`digest must be sha256:<64 lowercase hex digits>`);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad(`tag "${tag}" must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`);
  }
  let registry = DOCKER_HUB;
  const slash = rest.indexOf("/");
  const first = slash < 0 ? "" : rest.slice(0, slash);
  if (slash >= 0 && (first.includes(".") || first.includes(":") || first === "localhost")) {
    if (!DOMAIN.test(first)) throw bad(`registry "${first}" is not a host name`);
    registry = first === "index.docker.io" ? DOCKER_HUB : first;
    rest = rest.slice(slash + 1);
  }
  if (rest === "") throw bad("no repository name");
  if (rest !== rest.toLowerCase()) throw bad("repository name must be lowercase");
  for (const c of rest.split("/")) {
    if (!COMPONENT.test(c)) throw bad(`"${c}" is not a valid name component`);
  }
  if (registry === DOCKER_HUB && !rest.includes("/")) rest = `library/${rest}`;
  if (`${registry}/${rest}`.length > 255) throw bad("name longer than 255 characters");
  if (tag === undefined && digest === undefined) tag = "latest";
  return { registry, repository: rest, tag, digest };
}

/** docker.io/library/busybox */
export function repoName(r: Pick<Reference, "registry" | "repository">): string {
  return `${r.registry}/${r.repository}`;
}

/** The fully qualified form: name:tag, name@digest or name:tag@digest. */
export function formatReference(r: Reference): string {
  return repoName(r) + (r.tag ? `:${r.tag}` : "") + (r.digest ? `@${r.digest}` : "");
}

/** The host polis talks to for this registry name. */
export function apiHost(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_API : registry;
}

/** What a manifest is fetched by: the digest when there is one (it wins over a tag). */
export function manifestKey(r: Reference): string {
  return r.digest ?? r.tag ?? "latest";
}

export function isDigest(s: string): boolean {
  return DIGEST.test(s);
}
