// `polis pull`: resolve a reference through the registry (index -> the platform's manifest),
// fetch config and layers (bounded parallelism, each verified), unpack each layer once for
// overlayfs, then record the image and its name in one transaction. A failing pull removes
// what it fetched that nothing else refers to: the store is as it was.
import { readFileSync } from "node:fs";
import type { Store } from "../state/store.js";
import { nameRow as storedNameRow, recordImages, type ImageRow, type LayerRow, type NameRow } from "../state/images.js";
import { PolisError } from "../errors.js";
import { log } from "../log.js";
import { phase } from "../timing.js";
import { rfc3339Nano } from "../time.js";
import {
  blobPath,
  chainIds,
  crypto,
  collectGarbage,
  ensureDirs,
  hasBlob,
  hasLayer,
  lease,
  putBlob,
  release,
  sweepTmp,
} from "./content.js";
import type { Credentials } from "./credentials.js";
import { findCredentials } from "./credentials.js";
import { fetchBlob, type Progress } from "./fetch-blob.js";
import { EXTRA_CA_ENV, type TlsSettings } from "./http.js";
import {
  formatPlatform,
  hostPlatform,
  MANIFEST_ACCEPT,
  parseManifest,
  selectPlatform,
  MEDIA,
  type Descriptor,
  type ImageManifest,
  type Platform,
} from "./manifest.js";
import { apiHost, formatReference, manifestKey, parseReference, repoName, type Reference } from "./reference.js";
import { settingsFor, type RegistriesConfig, type RegistrySettings } from "./registries.js";
import { Registry, RegistryError } from "./registry.js";
import { type Spare, STREAMED_LAYER_MAX, StreamedLayer, unpackInto } from "./layer-store.js";
import { recordRunTemplates } from "./run-template.js";
import type { ImageConfig } from "./image-config.js";
import type { UnpackResult } from "./unpack.js";

/** Layers fetched at once (containerd: 3, containers/image: 6; two cores here). */
const PARALLEL = 3;
const MAX_MANIFEST = 4 << 20;

export interface PullOptions {
  reference: string;
  platform?: Platform;
  allPlatforms?: boolean;
  /** false: plain HTTP allowed for this registry (podman's --tls-verify=false) */
  tlsVerify?: boolean;
  credentials?: Credentials;
  registries: RegistriesConfig;
  env?: Record<string, string | undefined>;
  progress?: Progress;
  /** one line per finished step (non-TTY progress) */
  say?: (line: string) => void;
}

export interface PullResult {
  /** the digest the reference resolved to in the registry (an index's, or the manifest's) */
  digest: string;
  /** the image (manifest digest) for this host's platform or the one asked for */
  image: string;
  name: string;
}

/**
 * The registry's round trips are filled with work the pull needs later: the first source's
 * scheme discovery (the TLS probe) starts before anything else, the store's directories are
 * made while it is out, and `openStore` (a few ms, more on a fresh root) is called once the
 * manifest request is on its way, as the unpacker's modules are loaded (pullFrom).
 */
export async function pull(root: string, openStore: () => Store, o: PullOptions): Promise<PullResult> {
  let store: Store | undefined;
  const db = () => (store ??= openStore());
  const ref = parseReference(o.reference);
  const settings = settingsFor(o.registries, ref.registry);
  const sources = [...settings.mirrors, ref.registry];
  const registryFor = (source: string) => {
    const s = settingsFor(o.registries, source);
    return new Registry({
      name: source,
      host: apiHost(source),
      insecure: s.insecure || o.tlsVerify === false,
      credentials: o.credentials ?? findCredentials(source, ref.repository, o.env),
      tls: tlsFor(s, o.tlsVerify, o.env),
    });
  };
  const first = registryFor(sources[0]);
  first.connect();
  ensureDirs(root);
  // the half-written layer dirs of pulls that were killed (their partial blobs are resumed instead)
  sweepTmp(root, (name) => name.startsWith("layer-"));
  let lastErr: unknown;
  for (const source of sources) {
    const mirror = source !== ref.registry;
    const registry = source === sources[0] ? first : registryFor(source);
    const fetched = new Set<string>();
    try {
      return await pullFrom(registry, ref, root, db, o, fetched);
    } catch (e) {
      // only what this attempt added and nothing references: the store is as it was
      try {
        if (store) collectGarbage(store, root, fetched);
      } catch (cleanup) {
        log.warn("pull cleanup failed", { error: (cleanup as Error).message });
      }
      if (!mirror || !(e instanceof RegistryError)) throw e;
      log.warn(`mirror ${source} failed, trying the next source`, { error: e.message });
      lastErr = e;
    } finally {
      registry.close(); // its polis-fetch sessions
      if (store) release(store);
    }
  }
  throw lastErr;
}

async function pullFrom(
  registry: Registry,
  ref: Reference,
  root: string,
  db: () => Store,
  o: PullOptions,
  fetched: Set<string>,
): Promise<PullResult> {
  const name = formatReference(ref);
  let onWire!: () => void;
  const sent = new Promise<void>((resolve) => (onWire = resolve));
  const asked = getManifest(registry, ref.repository, manifestKey(ref), name, onWire);
  asked.catch(() => {}); // awaited below, after the store is open (which may fail first)
  await Promise.race([sent, asked.then(noop, noop)]);
  phase("registry request sent");
  // while the registry answers: the store, and the unpacker's spawner (node:child_process; the
  // unpacking itself is native/layer/'s polis-layer)
  const store = db();
  const { LayerStream } = await import("./unpack.js");
  phase("unpacker load");
  // the unpacker of a small base layer forks node (3-5 ms, the event loop stopped): started now,
  // while the manifest is on its way, unless the name is in the store (nothing to download, likely)
  const spare: Spare = {};
  if (!storedNameRow(store, storedName(ref))) {
    try {
      spare.layer = StreamedLayer.spare(root, LayerStream);
    } catch (e) {
      log.debug("no spare unpacker", { error: (e as Error).message });
    }
  }
  phase("spare unpacker");
  try {
    return await pullFromManifest(registry, ref, root, store, o, fetched, asked, name, spare);
  } finally {
    await spare.layer?.dispose(); // unused
  }
}

async function pullFromManifest(
  registry: Registry,
  ref: Reference,
  root: string,
  store: Store,
  o: PullOptions,
  fetched: Set<string>,
  asked: ReturnType<typeof getManifest>,
  name: string,
  spare: Spare,
): Promise<PullResult> {
  const top = await asked;
  phase("registry ping and manifest");
  if (ref.digest && top.digest !== ref.digest) {
    throw new PolisError(`${name}: the registry sent a manifest with digest ${top.digest}`);
  }
  const parsed = parseManifest(top.body, top.contentType, name);
  const want = o.platform ?? hostPlatform();
  let chosen: { digest: string; body: Buffer; manifest: ImageManifest }[];
  let index: { digest: string; body: Buffer; mediaType: string } | undefined;
  let primary: string;
  if (parsed.kind === "index") {
    lease(store, [top.digest]);
    index = { digest: top.digest, body: top.body, mediaType: parsed.index.mediaType };
    const picked = o.allPlatforms
      ? parsed.index.manifests.filter((d) => d.mediaType === MEDIA.ociManifest || d.mediaType === MEDIA.dockerManifest)
      : [selectPlatform(parsed.index, want, name)];
    primary = (o.allPlatforms ? (tryPick(parsed.index.manifests, want, name) ?? picked[0]) : picked[0])?.digest;
    if (!primary) throw new PolisError(`${name}: the index lists no image manifests`);
    chosen = [];
    for (const d of picked) {
      lease(store, [d.digest]);
      const m = await getManifest(registry, ref.repository, d.digest, `${name} (${formatPlatform(d.platform)})`);
      if (m.digest !== d.digest) throw new PolisError(`${name}: manifest ${d.digest} arrived with digest ${m.digest}`);
      const p = parseManifest(m.body, m.contentType, `${repoName(ref)}@${d.digest}`);
      if (p.kind !== "manifest") throw new PolisError(`${name}: ${d.digest} is a nested index, which polis does not follow`);
      chosen.push({ digest: d.digest, body: m.body, manifest: p.manifest });
    }
  } else {
    primary = top.digest;
    chosen = [{ digest: top.digest, body: top.body, manifest: parsed.manifest }];
  }

  // The manifests and the index go to the store while the blobs download (their fsyncs off the
  // event loop), from the next turn of the loop on, once pullImage's requests are out. They
  // are named before the image is recorded, and settled before a failure's cleanup runs.
  const stored = async (digest: string, body: Buffer) => {
    if (!hasBlob(root, digest)) fetched.add(digest);
    await putBlob(root, digest, body);
  };
  const storing = new Promise<void>((resolve) => setImmediate(resolve)).then(async () => {
    for (const c of chosen) await stored(c.digest, c.body);
    if (index) await stored(index.digest, index.body);
  });
  storing.catch(() => {}); // awaited below
  const images: { image: ImageRow; layers: LayerRow[] }[] = [];
  try {
    for (const c of chosen) {
      // a plain manifest is leased with its blobs (one transaction less); an index was above
      const alsoLease = index ? [] : [c.digest];
      images.push(await pullImage(registry, ref, c, index?.digest, root, store, o, fetched, alsoLease, spare));
    }
  } finally {
    await Promise.allSettled([storing]);
  }
  await storing;

  phase("config and layers");
  const now = rfc3339Nano();
  const nameRow: NameRow = {
    name: storedName(ref),
    repository: repoName(ref),
    tag: ref.digest ? null : (ref.tag ?? null),
    image: primary,
    indexDigest: index?.digest ?? null,
    updated: now,
  };
  recordImages(
    store,
    images,
    [nameRow],
    index && { digest: index.digest, mediaType: index.mediaType, manifest: index.body.toString("utf8") },
  );
  store.appendEvent({ type: "image", action: "pull", id: nameRow.name, attributes: { digest: top.digest, image: primary } });
  try {
    recordRunTemplates(store, root, images, nameRow.name); // for the launcher's `run --image`
  } catch {
    // only a shortcut: without a template, `run --image` is node's (which records it then)
  }
  phase("record image");
  return { digest: top.digest, image: primary, name: nameRow.name };
}

/**
 * CA files from the config (read now: a missing one is an error), the launcher's moved
 * NODE_EXTRA_CA_CERTS (read only if a verified TLS connection is made), and --tls-verify=false
 * (also a configured insecure registry: docker skips verification for those).
 */
export function tlsFor(
  s: RegistrySettings,
  tlsVerify: boolean | undefined,
  env: Record<string, string | undefined> = process.env,
): TlsSettings {
  const ca = s.ca.map((file) => {
    try {
      return readFileSync(file, "utf8");
    } catch (e) {
      throw new PolisError(`registries: CA file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  });
  return { ca, caFiles: s.ca, caFile: env[EXTRA_CA_ENV] || undefined, verify: tlsVerify !== false && !s.insecure };
}

function tryPick(list: Descriptor[], want: Platform, name: string): Descriptor | undefined {
  try {
    return selectPlatform({ schemaVersion: 2, mediaType: MEDIA.ociIndex, manifests: list }, want, name);
  } catch {
    return undefined;
  }
}

async function pullImage(
  registry: Registry,
  ref: Reference,
  c: { digest: string; body: Buffer; manifest: ImageManifest },
  indexDigest: string | undefined,
  root: string,
  store: Store,
  o: PullOptions,
  fetched: Set<string>,
  alsoLease: string[],
  spare: Spare,
): Promise<{ image: ImageRow; layers: LayerRow[] }> {
  const m = c.manifest;
  const what = `${repoName(ref)}@${c.digest}`;
  lease(store, [...alsoLease, m.config.digest, ...m.layers.map((l) => l.digest)]);
  if (m.config.size > MAX_MANIFEST) throw new PolisError(`${what}: config of ${m.config.size} bytes is too big`);

  // The config and each distinct blob download at once (layers a few at a time): the config is
  // only needed from the unpacking on, which saves a registry round trip before the first layer
  // byte. Each layer is unpacked as soon as it and the layers below it are there (a layer's
  // directory depends on them: symlinked parents). A blob already in the store costs a stat.
  const configFetch = fetchBlob(registry, ref.repository, m.config, root, { inNode: true });
  configFetch.catch(() => {}); // awaited below
  // A small base layer (nothing below it) is unpacked while it downloads, in one pass.
  const base = m.layers[0];
  let streamed: StreamedLayer | undefined;
  if (base && base.size <= STREAMED_LAYER_MAX && !hasBlob(root, base.digest, base.size)) {
    streamed = spare.layer?.claim(base.digest) ?? (await StreamedLayer.start(root, base.digest));
    spare.layer = undefined;
  }
  let streamedDone: Promise<UnpackResult | undefined> | undefined;
  const fetches = new Map<string, Promise<boolean>>();
  const slot = limiter(PARALLEL);
  let failed = false; // downloads not started yet are skipped once the pull has failed
  for (const l of m.layers) {
    if (fetches.has(l.digest)) continue;
    const p = slot(async () => {
      if (failed) throw new PolisError(`${what}: pull abandoned`);
      // the streamed base layer: polis-fetch's stdout is the unpacker's stdin (node's download: its tee)
      const feed = l === base ? streamed : undefined;
      const downloaded = await fetchBlob(registry, ref.repository, l, root, { progress: o.progress, feed });
      if (downloaded) fetched.add(l.digest);
      return downloaded;
    });
    p.catch(() => {}); // awaited below, in order
    fetches.set(l.digest, p);
    if (l === base && streamed) {
      streamedDone = p.then((downloaded) => (downloaded ? streamed.finish() : undefined));
      streamedDone.catch(() => {}); // awaited below
    }
  }
  // the unpacker's spawn (a fork of node) while the registry answers the requests just sent
  if (streamed) {
    setImmediate(() => {
      try {
        streamed.begin();
      } catch {
        // the first layer byte tries again, and its error fails the download
      }
    });
  }
  let configText: string;
  let config: ImageConfig;
  let diffIds: string[];
  try {
    if (await configFetch) fetched.add(m.config.digest);
    configText = readFileSync(blobPath(root, m.config.digest), "utf8");
    try {
      config = JSON.parse(configText) as ImageConfig;
    } catch {
      throw new PolisError(`${what}: image config ${m.config.digest} is not valid JSON`);
    }
    const ids = config.rootfs?.diff_ids;
    if (!Array.isArray(ids) || ids.length !== m.layers.length) {
      throw new PolisError(
        `${what}: the config lists ${Array.isArray(ids) ? ids.length : "no"} rootfs.diff_ids for ${m.layers.length} layers`,
      );
    }
    diffIds = ids;
    const chains = chainIds(diffIds);
    lease(store, [...diffIds, ...chains]);
    o.say?.(`Copying config ${m.config.digest.slice(7, 19)} done`);
    phase("image config");
    for (let i = 0; i < m.layers.length; i++) {
      const l = m.layers[i];
      const downloaded = await fetches.get(l.digest);
      phase("layer download");
      if (!downloaded && hasLayer(root, chains[i])) {
        o.say?.(`Copying blob ${l.digest.slice(7, 19)} skipped: already exists`);
        continue;
      }
      const got = i === 0 ? await streamedDone : undefined;
      if (got && streamed) await streamed.commit(root, got, diffIds[0], fetched);
      else await unpackInto(root, l.digest, diffIds[i], chains.slice(0, i + 1), fetched);
      phase("layer unpack");
      o.say?.(`Copying blob ${l.digest.slice(7, 19)} done ${mb(l.size)}`);
    }
  } catch (e) {
    failed = true;
    throw e;
  } finally {
    await Promise.allSettled([configFetch, ...fetches.values(), streamedDone]);
    await streamed?.dispose();
  }

  const platform = formatPlatform({ os: config.os, architecture: config.architecture, variant: config.variant });
  const size = m.config.size + m.layers.reduce((a, l) => a + l.size, 0);
  return {
    image: {
      id: c.digest,
      mediaType: m.mediaType,
      manifest: c.body.toString("utf8"),
      configDigest: m.config.digest,
      config: configText,
      platform,
      size,
      created: typeof config.created === "string" ? config.created : null,
      pulled: rfc3339Nano(),
      indexDigest: indexDigest ?? null,
    },
    layers: m.layers.map((l, i) => ({ position: i, digest: l.digest, mediaType: l.mediaType, size: l.size, diffId: diffIds[i] })),
  };
}

/** The name a reference is stored under (image_names). */
function storedName(ref: Reference): string {
  return ref.digest ? `${repoName(ref)}@${ref.digest}` : `${repoName(ref)}:${ref.tag}`;
}

/** Runs at most `n` of the functions given to it at once. */
function limiter(n: number): <T>(f: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async (f) => {
    if (running >= n) await new Promise<void>((r) => waiting.push(r));
    running++;
    try {
      return await f();
    } finally {
      running--;
      waiting.shift()?.();
    }
  };
}

const noop = () => {};

async function getManifest(
  registry: Registry,
  repo: string,
  key: string,
  what: string,
  sent?: () => void,
): Promise<{ body: Buffer; digest: string; contentType: string }> {
  const res = await registry.get(repo, `manifests/${key}`, { accept: MANIFEST_ACCEPT }, what, sent);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.length;
    if (size > MAX_MANIFEST) throw new PolisError(`${what}: manifest larger than ${MAX_MANIFEST} bytes`);
    chunks.push(Buffer.from(chunk));
  }
  const body = Buffer.concat(chunks);
  return {
    body,
    digest: `sha256:${crypto().createHash("sha256").update(body).digest("hex")}`,
    contentType: res.headers.get("content-type") ?? "",
  };
}

export function mb(n: number): string {
  return n >= 1e9
    ? `${(n / 1e9).toFixed(1)}GB`
    : n >= 1e6
      ? `${(n / 1e6).toFixed(1)}MB`
      : n >= 1e3
        ? `${(n / 1e3).toFixed(1)}kB`
        : `${n}B`;
}
