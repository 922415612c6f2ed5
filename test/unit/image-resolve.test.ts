// How a user's reference finds an image in the store (src/image/catalog.ts): names, id prefixes
// (docker's: unique, at least 4 hex digits), repo@digest of an image pulled under a tag.
import { describe, expect, it } from "vitest";
import { resolveImage } from "../../src/image/catalog.js";
import { type ImageRow, type NameRow, recordImages } from "../../src/state/images.js";
import { tempStores } from "../helpers/store.js";

const newStore = tempStores("resolve");

const hex = (lead: string) => `sha256:${lead}${"0".repeat(64 - lead.length)}`;

function image(id: string, configLead: string, indexDigest: string | null = null): ImageRow {
  return {
    id,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    manifest: "{}",
    configDigest: hex(configLead),
    config: "{}",
    platform: "linux/amd64",
    size: 1,
    created: null,
    pulled: "2026-01-01T00:00:00Z",
    indexDigest,
  };
}

function name(repository: string, tag: string, img: string, indexDigest: string | null = null): NameRow {
  return { name: `${repository}:${tag}`, repository, tag, image: img, indexDigest, updated: "2026-01-01T00:00:00Z" };
}

describe("resolveImage", () => {
  it("an id prefix two images share is refused as ambiguous, with how many match", () => {
    const store = newStore();
    const a = hex("abcd1");
    const b = hex("abcd2");
    recordImages(
      store,
      [
        { image: image(a, "11"), layers: [] },
        { image: image(b, "22"), layers: [] },
      ],
      [name("localhost:5000/a", "1", a), name("localhost:5000/b", "1", b)],
    );
    expect(() => resolveImage(store, "abcd")).toThrow("abcd: ambiguous image id (2 images match)");
    expect(() => resolveImage(store, "sha256:abcd")).toThrow("sha256:abcd: ambiguous image id (2 images match)");
    expect(resolveImage(store, "abcd1").image.id).toBe(a);
    store.close();
  });

  it("a prefix of one image's id and another's config digest is ambiguous too", () => {
    const store = newStore();
    const a = hex("beef1");
    const b = hex("cafe1");
    recordImages(
      store,
      [
        { image: image(a, "77"), layers: [] },
        { image: image(b, "beef2"), layers: [] },
      ],
      [],
    );
    expect(() => resolveImage(store, "beef")).toThrow("beef: ambiguous image id (2 images match)");
    // the config digest alone (docker's image id) finds its image
    expect(resolveImage(store, "beef2").image.id).toBe(b);
    store.close();
  });

  it("a digest nothing has: not known, with the pull to run", () => {
    const store = newStore();
    const ref = hex("dead");
    expect(() => resolveImage(store, ref)).toThrow(`${ref}: image not known (polis pull ${ref})`);
    store.close();
  });

  it("a name that is also a hex prefix is the name", () => {
    const store = newStore();
    const byName = hex("1111");
    const byId = hex("face1");
    recordImages(
      store,
      [
        { image: image(byName, "33"), layers: [] },
        { image: image(byId, "44"), layers: [] },
      ],
      [name("docker.io/library/face", "latest", byName)],
    );
    expect(resolveImage(store, "face").image.id).toBe(byName);
    expect(resolveImage(store, "face1").image.id).toBe(byId);
    store.close();
  });

  it("repo@digest of an image pulled under a tag, by its manifest or its index digest", () => {
    const store = newStore();
    const id = hex("5151");
    const index = hex("7171");
    recordImages(store, [{ image: image(id, "55", index), layers: [] }], [name("localhost:5000/busybox", "1", id, index)]);
    for (const digest of [id, index]) {
      const r = resolveImage(store, `localhost:5000/busybox@${digest}`);
      expect(r.image.id).toBe(id);
      expect(r.name?.name).toBe("localhost:5000/busybox:1");
    }
    // another repository's name does not lend its image to this one
    expect(() => resolveImage(store, `localhost:5000/other@${id}`)).toThrow("image not known");
    expect(() => resolveImage(store, `localhost:5000/busybox@${hex("9999")}`)).toThrow("image not known");
    store.close();
  });

  it("a reference that is not one is refused by the reference parser, not as unknown", () => {
    const store = newStore();
    expect(() => resolveImage(store, "Busybox")).toThrow(/lowercase/);
    store.close();
  });
});
