// Manifests and indexes (OCI image-spec and Docker schema2), and picking a platform from an index.
import { PolisError } from "../errors.js";

export const MEDIA = {
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
  schema1: "application/vnd.docker.distribution.manifest.v1+json",
  schema1Signed: "application/vnd.docker.distribution.manifest.v1+prettyjws",
} as const;

/** Sent with every manifest request, most wanted first. */
export const MANIFEST_ACCEPT = [MEDIA.ociIndex, MEDIA.dockerList, MEDIA.ociManifest, MEDIA.dockerManifest].join(", ");

const LAYER_TYPES = new Set([
  "application/vnd.oci.image.layer.v1.tar",
  "application/vnd.oci.image.layer.v1.tar+gzip",
  "application/vnd.oci.image.layer.v1.tar+zstd",
  "application/vnd.oci.image.layer.nondistributable.v1.tar",
  "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
  "application/vnd.docker.image.rootfs.diff.tar.gzip",
  "application/vnd.docker.image.rootfs.diff.tar",
]);

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform & { "os.version"?: string; "os.features"?: string[] };
  annotations?: Record<string, string>;
  urls?: string[];
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType: string;
  manifests: Descriptor[];
}

export type Parsed = { kind: "index"; index: ImageIndex } | { kind: "manifest"; manifest: ImageManifest };

/** Parse a manifest body; `contentType` is the registry's header (trusted only when the body says nothing). */
export function parseManifest(body: Buffer, contentType: string, what: string): Parsed {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(body.toString("utf8"));
  } catch {
    throw new PolisError(`${what}: manifest is not valid JSON`);
  }
  const header = contentType.split(";")[0].trim();
  const mediaType = typeof doc.mediaType === "string" ? doc.mediaType : header;
  if (doc.schemaVersion === 1 || mediaType === MEDIA.schema1 || mediaType === MEDIA.schema1Signed) {
    throw new PolisError(
      `${what}: Docker schema 1 manifests are not supported (deprecated since 2017); push the image again with a current client`,
    );
  }
  if (
    typeof doc.mediaType === "string" &&
    header &&
    header !== doc.mediaType &&
    header !== "application/json" &&
    header !== "application/octet-stream"
  ) {
    throw new PolisError(`${what}: the registry says the manifest is ${header}, but it says it is ${doc.mediaType}`);
  }
  if (mediaType === MEDIA.ociIndex || mediaType === MEDIA.dockerList || (!doc.mediaType && Array.isArray(doc.manifests))) {
    if (!Array.isArray(doc.manifests)) throw new PolisError(`${what}: index has no manifests`);
    return {
      kind: "index",
      index: {
        schemaVersion: 2,
        mediaType,
        manifests: (doc.manifests as unknown[]).map((d, i) => descriptor(d, `${what}: manifests[${i}]`)),
      },
    };
  }
  if (mediaType === MEDIA.ociManifest || mediaType === MEDIA.dockerManifest || (!doc.mediaType && doc.config)) {
    const config = descriptor(doc.config, `${what}: config`);
    if (!Array.isArray(doc.layers)) throw new PolisError(`${what}: manifest has no layers`);
    const layers = (doc.layers as unknown[]).map((d, i) => descriptor(d, `${what}: layers[${i}]`));
    layers.forEach((l, i) => {
      if (!LAYER_TYPES.has(l.mediaType))
        throw new PolisError(`${what}: layers[${i}] has media type ${l.mediaType}, which polis cannot unpack`);
    });
    return {
      kind: "manifest",
      manifest: {
        schemaVersion: 2,
        mediaType,
        config,
        layers,
        annotations: doc.annotations as Record<string, string> | undefined,
      },
    };
  }
  throw new PolisError(`${what}: unknown manifest media type ${mediaType || "(none)"}`);
}

function descriptor(d: unknown, what: string): Descriptor {
  const o = d as Descriptor;
  if (!o || typeof o !== "object") throw new PolisError(`${what}: not a descriptor`);
  if (typeof o.digest !== "string" || !/^sha256:[a-f0-9]{64}$/.test(o.digest))
    throw new PolisError(`${what}: digest ${String(o.digest)} is not a sha256 digest`);
  if (!Number.isSafeInteger(o.size) || o.size < 0) throw new PolisError(`${what}: bad size ${String(o.size)}`);
  return o;
}

/** The host's platform in OCI terms (amd64, arm64/v8 …). */
export function hostPlatform(): Platform {
  const arch: Record<string, string> = {
    x64: "amd64",
    arm64: "arm64",
    arm: "arm",
    ia32: "386",
    ppc64: "ppc64le",
    s390x: "s390x",
    riscv64: "riscv64",
  };
  const p: Platform = { os: "linux", architecture: arch[process.arch] ?? process.arch };
  if (p.architecture === "arm64") p.variant = "v8";
  return p;
}

/** `os/arch[/variant]` as --platform takes it. */
export function parsePlatform(text: string): Platform {
  const parts = text.split("/");
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === "")) {
    throw new PolisError(`--platform "${text}": must be os/arch[/variant]`);
  }
  const p: Platform = { os: parts[0], architecture: parts[1] };
  if (parts[2]) p.variant = parts[2];
  return p;
}

export function formatPlatform(p: Partial<Platform> | undefined): string {
  if (!p) return "unknown";
  return [p.os ?? "?", p.architecture ?? "?", p.variant].filter(Boolean).join("/");
}

/** The index entry for `want`; an arm64 entry without a variant counts as v8. */
export function selectPlatform(index: ImageIndex, want: Platform, what: string): Descriptor {
  const norm = (p: Partial<Platform>) => ({
    os: p.os,
    arch: p.architecture,
    variant: p.variant ?? (p.architecture === "arm64" ? "v8" : undefined),
  });
  const w = norm(want);
  const images = index.manifests.filter((d) => d.mediaType === MEDIA.ociManifest || d.mediaType === MEDIA.dockerManifest);
  const match = images.find((d) => {
    if (!d.platform) return false;
    const p = norm(d.platform);
    return p.os === w.os && p.arch === w.arch && (w.variant === undefined || p.variant === w.variant);
  });
  if (match) return match;
  const has = images.map((d) => formatPlatform(d.platform)).join(", ") || "none";
  throw new PolisError(
    `${what}: no image for platform ${formatPlatform(want)} in the index (it has: ${has}); choose one with --platform`,
  );
}
