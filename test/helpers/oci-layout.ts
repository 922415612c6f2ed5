// Builds OCI image layouts by hand (blobs, manifests, indexes) from tar layers, so that tests
// choose every byte: compression, media types, platforms, whiteouts. `skopeo copy` pushes them.
import { execFile, execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface Desc {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os: string; architecture: string; variant?: string };
  annotations?: Record<string, string>;
}

/** A reproducible tar of a directory (sorted, root-owned, one mtime): the layer tests build on. */
export function tarOf(dir: string, out: string): string {
  execFileSync("tar", [
    "--sort=name",
    "--numeric-owner",
    "--owner=0",
    "--group=0",
    "--mtime=@1700000000",
    "-C",
    dir,
    "-cf",
    out,
    ".",
  ]);
  return out;
}

const sha = (b: Buffer | string) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

export class OciLayout {
  private readonly refs: Desc[] = [];
  constructor(readonly dir: string) {
    mkdirSync(join(dir, "blobs", "sha256"), { recursive: true });
    writeFileSync(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
    this.writeIndex();
  }

  blob(data: Buffer | string, mediaType: string): Desc {
    const digest = sha(data);
    writeFileSync(join(this.dir, "blobs", "sha256", digest.slice(7)), data);
    return { mediaType, digest, size: Buffer.byteLength(data) };
  }

  /** A layer from an uncompressed tar file; returns its descriptor and diff_id. */
  layer(tarFile: string, compression: "none" | "gzip" | "zstd"): { desc: Desc; diffId: string } {
    const raw = readFileSync(tarFile);
    const data =
      compression === "gzip"
        ? execFileSync("gzip", ["-c", "-n", tarFile], { maxBuffer: 1 << 30 })
        : compression === "zstd"
          ? execFileSync("zstd", ["-q", "-c", tarFile], { maxBuffer: 1 << 30 })
          : raw;
    const type = `application/vnd.oci.image.layer.v1.tar${compression === "gzip" ? "+gzip" : compression === "zstd" ? "+zstd" : ""}`;
    return { desc: this.blob(data, type), diffId: sha(raw) };
  }

  /** An image manifest; `tag` also names it in index.json (for skopeo and umoci). */
  image(o: {
    layers: { desc: Desc; diffId: string }[];
    config?: Record<string, unknown>;
    arch?: string;
    variant?: string;
    tag?: string;
  }): Desc {
    const arch = o.arch ?? "amd64";
    const config = {
      created: "2024-01-01T00:00:00Z",
      architecture: arch,
      ...(o.variant ? { variant: o.variant } : {}),
      os: "linux",
      config: { Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], ...(o.config ?? {}) },
      rootfs: { type: "layers", diff_ids: o.layers.map((l) => l.diffId) },
    };
    const cfg = this.blob(JSON.stringify(config), "application/vnd.oci.image.config.v1+json");
    const manifest = {
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: cfg,
      layers: o.layers.map((l) => l.desc),
    };
    const desc: Desc = {
      ...this.blob(JSON.stringify(manifest), manifest.mediaType),
      platform: { os: "linux", architecture: arch, ...(o.variant ? { variant: o.variant } : {}) },
    };
    if (o.tag) this.name(desc, o.tag);
    return desc;
  }

  /** An image index of `manifests`, named `tag`. */
  index(manifests: Desc[], tag: string): Desc {
    const index = { schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests };
    const desc = this.blob(JSON.stringify(index), index.mediaType);
    this.name(desc, tag);
    return desc;
  }

  private name(desc: Desc, tag: string): void {
    this.refs.push({ ...desc, annotations: { "org.opencontainers.image.ref.name": tag } });
    this.writeIndex();
  }

  private writeIndex(): void {
    writeFileSync(join(this.dir, "index.json"), JSON.stringify({ schemaVersion: 2, manifests: this.refs }));
  }
}

/** `skopeo copy` of layout tag `tag` to `dest` (docker://host/repo:tag), over plain HTTP. */
export function push(layout: string, tag: string, dest: string, extra: string[] = []): void {
  execFileSync("skopeo", ["copy", "-q", "--dest-tls-verify=false", ...extra, `oci:${layout}:${tag}`, dest], {
    stdio: ["ignore", "ignore", "pipe"],
  });
}

/** push() without blocking the event loop (needed when the token server runs in this process). */
export function pushAsync(layout: string, tag: string, dest: string, extra: string[] = []): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile("skopeo", ["copy", "-q", "--dest-tls-verify=false", ...extra, `oci:${layout}:${tag}`, dest], (err, _out, stderr) =>
      err ? reject(new Error(`skopeo copy to ${dest}: ${stderr}`)) : resolve(),
    );
  });
}
