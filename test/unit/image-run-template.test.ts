// The run templates the native `run --image` fills in (src/image/run-template.ts,
// native/launcher/run_image.c): which images get one, that it follows the image, and a tripwire
// for stale templates in users' databases.
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { ImageConfig } from "../../src/image/image-config.js";
import { recordRunTemplate } from "../../src/image/run-template.js";
import { imageSpec } from "../../src/image/runtime-spec.js";
import { type ImageRow, recordImages, removeImage, runTemplateOf } from "../../src/state/images.js";
import type { Store } from "../../src/state/store.js";
import { tempStores } from "../helpers/store.js";

const newStore = tempStores("run-template");

function image(store: Store, config: ImageConfig): ImageRow {
  const row: ImageRow = {
    id: `sha256:${createHash("sha256").update(JSON.stringify(config)).digest("hex")}`,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    manifest: "{}",
    configDigest: "sha256:c",
    config: JSON.stringify(config),
    platform: "linux/amd64",
    size: 1,
    created: null,
    pulled: "2026-01-01T00:00:00Z",
    indexDigest: null,
  };
  recordImages(store, [{ image: row, layers: [] }], []);
  return row;
}

describe("image run templates", () => {
  it("hold imageSpec's config.json, the Entrypoint and the lowerdir; refreshed when they change", () => {
    const store = newStore();
    const config: ImageConfig = { config: { Entrypoint: ["sh", "-c"], Cmd: ["echo hi"], Env: ["A=1"] } };
    const img = image(store, config);
    recordRunTemplate(store, img, config, "/r/images/layers/b:/r/images/layers/a", "img");
    const t = runTemplateOf(store, img.id);
    expect(t).toEqual({
      image: img.id,
      spec: JSON.stringify(imageSpec(config, { rootfs: "", image: "img" })),
      entrypoint: '["sh","-c"]',
      lower: "/r/images/layers/b:/r/images/layers/a",
    });
    expect(JSON.parse(t!.spec).process.args).toEqual(["sh", "-c", "echo hi"]);
    recordRunTemplate(store, img, config, "/r/images/layers/c", "img");
    expect(runTemplateOf(store, img.id)?.lower).toBe("/r/images/layers/c");
    // gone with its image (rmi)
    removeImage(store, img.id);
    expect(runTemplateOf(store, img.id)).toBeUndefined();
    store.close();
  });

  it("none for an image without a command, or with an Entrypoint or Cmd that is not a list of strings", () => {
    const store = newStore();
    for (const config of [{ config: {} }, { config: { Entrypoint: "sh -c" } }, { config: { Cmd: ["sh", 1] } }] as ImageConfig[]) {
      const img = image(store, config);
      recordRunTemplate(store, img, config, "/l", "img");
      expect(runTemplateOf(store, img.id)).toBeUndefined();
    }
    store.close();
  });

  it("tripwire: what imageSpec makes has not changed since the image_run_templates migration", () => {
    // Templates stored by an older polis would be filled in by the launcher as they are. If this
    // fails because imageSpec or defaultSpec changed on purpose, append a migration that runs
    // `DELETE FROM image_run_templates` (node makes them again on each image's next run), then
    // update the digest here.
    const config: ImageConfig = {
      os: "linux",
      architecture: "amd64",
      config: {
        Entrypoint: ["e"],
        Cmd: ["c"],
        Env: ["A=1"],
        WorkingDir: "w",
        Labels: { l: "v" },
        ExposedPorts: { "1/tcp": {} },
        StopSignal: "SIGINT",
      },
    };
    const digest = createHash("sha256")
      .update(JSON.stringify(imageSpec(config, { rootfs: "", image: "img" })))
      .digest("hex");
    expect(digest).toBe("7126e3faf23eb8953b0a4185afe06ecff3090f6b849472184d4b0471855ae0db");
  });
});
