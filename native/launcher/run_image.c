/*
 * `polis create|run --image REF ID [-- ARGS]` without node, for a pulled image node has made a run
 * template for (src/image/run-template.ts: at `pull`, or its first `run|create --image`, when the
 * image has no Volumes and no User). What node's path does (src/engine/run.ts, imageBundle,
 * makeBundle), step for step:
 *
 *   the image row REF names and its template, read in the write transaction that records the
 *   image-bundle resource (so no rmi takes the image or its layers in between); the bundle under
 *   <root>/bundles/ID: rootfs, upper and work directories and a config.json made by SQLite from
 *   the template (hostname = ID, args); then the native create or run of that bundle (create.c),
 *   whose delete gives the bundle back (release_image_bundles). The overlay: for a foreground run
 *   (node's `ephemeral`), the `volatile` overlay first in config.json's mounts, mounted by the shim
 *   in the container's own mount namespace, never on the host; for create, run -d and run --keep,
 *   mounted here on the bundle's rootfs, as node's koffi mount does.
 *
 * The rule of create.c holds: everything node would do otherwise (a name this does not resolve,
 * an image without a template, a Healthcheck for a detached container, layers still to unpack,
 * an upper directory overlayfs may refuse) goes to node before the first change; a failure after
 * it undoes the bundle, its mount and its row (handoff_undo) after create.c has undone its own
 * part, and node redoes the whole call.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "create.h"

void (*handoff_undo)(void);

/*
 * The name node's resolveImage looks up for `ref` (parseReference, then repo:tag), for plain
 * names only: a digest reference or anything that may be an image id is node's. What node would
 * refuse as invalid cannot match a stored name, so a lookup that finds one found node's image.
 */
static char *image_name(const char *ref) {
    size_t n = strlen(ref);
    if (!n || n > 512 || strchr(ref, '@') || !utf8_valid(ref)) return NULL;
    const char *hex = !strncmp(ref, "sha256:", 7) ? ref + 7 : ref;
    size_t h = strspn(hex, "0123456789abcdef");
    if (!hex[h] && h >= 4 && h <= 64) return NULL;
    char *rest = strdup(ref);
    const char *tag = "latest";
    char *colon = strrchr(rest, ':'), *slash = strrchr(rest, '/');
    if (colon && (!slash || colon > slash)) {
        *colon = 0;
        tag = colon + 1;
        size_t t = strlen(tag);
        bool first = (*tag >= 'a' && *tag <= 'z') || (*tag >= 'A' && *tag <= 'Z') || (*tag >= '0' && *tag <= '9') || *tag == '_';
        if (!t || t > 128 || !first || strspn(tag, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != t) return NULL;
    }
    const char *registry = "docker.io", *repo = rest;
    char *first_slash = strchr(rest, '/');
    if (first_slash) {
        *first_slash = 0;
        if (strchr(rest, '.') || strchr(rest, ':') || !strcmp(rest, "localhost")) {
            registry = strcmp(rest, "index.docker.io") ? rest : "docker.io";
            repo = first_slash + 1;
        } else {
            *first_slash = '/';
        }
    }
    if (!*repo) return NULL;
    struct buf name = {0};
    buf_str(&name, registry);
    buf_str(&name, !strcmp(registry, "docker.io") && !strchr(repo, '/') ? "/library/" : "/");
    buf_str(&name, repo);
    buf_str(&name, ":");
    buf_str(&name, tag);
    return name.p;
}

/* overlayInNamespace (src/image/bundle.ts): the kernel lists overlayfs, and `dir` is on a file
 * system known to hold an upper directory (ext2/3/4, xfs, btrfs, tmpfs, f2fs). */
static bool overlay_in_namespace(const char *dir) {
    int fd = open("/proc/filesystems", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    char text[8192];
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n <= 0) return false;
    text[n] = 0;
    if (!strstr(text, "\toverlay\n")) return false;
    struct statfs sf;
    if (statfs(dir, &sf) != 0) return false;
    static const unsigned long UPPER_FILE_SYSTEMS[] = {0xef53, 0x58465342, 0x9123683e, 0x01021994, 0xf2f52010};
    for (size_t i = 0; i < sizeof UPPER_FILE_SYSTEMS / sizeof UPPER_FILE_SYSTEMS[0]; i++)
        if ((unsigned long)sf.f_type == UPPER_FILE_SYSTEMS[i]) return true;
    return false;
}

/* Every lower directory of the overlay is an unpacked layer of this root's store (else node unpacks). */
static bool layers_ready(const char *lower, const char *layers_dir) {
    char *copy = strdup(lower), *save = NULL;
    size_t prefix = strlen(layers_dir);
    bool ok = *copy != 0;
    for (char *d = strtok_r(copy, ":", &save); ok && d; d = strtok_r(NULL, ":", &save))
        ok = !strncmp(d, layers_dir, prefix) && d[prefix] == '/' && !strchr(d + prefix + 1, '/') && is_dir(d);
    free(copy);
    return ok;
}

/* What handoff_undo takes back: the host mount, the bundle directory (once made) and its resource row. */
static struct {
    const char *id, *dir, *rootfs;
    bool row, made, mounted;
} bundle;

static void undo_bundle(void) {
    if (bundle.mounted) umount2(bundle.rootfs, MNT_DETACH);
    if (bundle.made) remove_all(bundle.dir);
    if (bundle.row) store_remove_image_bundle(bundle.id, bundle.dir);
    bundle.mounted = bundle.made = bundle.row = false;
    trace("run --image: bundle undone: %s", bundle.dir);
}

static char *join2(const char *a, const char *b) {
    struct buf p = {0};
    buf_str(&p, a);
    buf_str(&p, "/");
    buf_str(&p, b);
    return p.p;
}

/* writeFileSync(path, text): 0666 less the umask */
static bool write_file(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) return false;
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w <= 0) break;
        off += (size_t)w;
    }
    return close(fd) == 0 && off == len;
}

int cmd_run_image(struct create_opts *o, enum image_run how, const char *ref, char **args, int nargs) {
    /* node's `ephemeral`: the container goes when this run ends; its overlay lives in its namespace */
    bool ephemeral = how == IMAGE_FOREGROUND;
    if (!valid_id(o->id)) to_node("container id");
    char *name = image_name(ref);
    if (!name) to_node("run --image: an image reference that is not a plain name");
    struct buf argv_json = {0};
    for (int i = 0; i < nargs; i++) {
        if (!utf8_valid(args[i])) to_node("run --image: arguments that are not UTF-8");
        buf_str(&argv_json, i ? "," : "[");
        buf_json_string(&argv_json, args[i]);
    }
    if (nargs) buf_str(&argv_json, "]");

    char *root = path_resolve("/", G.root);
    char *bundles = join2(root, "bundles"), *dir = join2(bundles, o->id);
    char *upper = join2(dir, "upper"), *work = join2(dir, "work"), *rootfs = join2(dir, "rootfs");
    char *layers_dir = join2(root, "images/layers");
    char hostname[64];
    snprintf(hostname, sizeof hostname, "%s", o->id); /* id.slice(0, 63): an id is ASCII */
    char *db_path = join2(root, "state.db");
    if (access(db_path, F_OK) != 0) to_node("no state database yet");
    store_open();

    /* the write transaction: the image and its template, the checks, the resource row */
    struct run_template t;
    if (!store_run_template(name, hostname, nargs ? argv_json.p : NULL, ephemeral ? upper : NULL, work, ephemeral, &t))
        to_node("run --image: no run template for the image (node makes one when it runs the image), or a Healthcheck (a monitor)");
    struct record rec;
    if (store_get(o->id, &rec)) to_node("the id is taken");
    if (store_resource_count(o->id) > 0) to_node("resources are recorded for the id");
    if (!layers_ready(t.lower, layers_dir)) to_node("run --image: layers to unpack");
    if (ephemeral && !overlay_in_namespace(is_dir(bundles) ? bundles : root)) to_node("run --image: no overlay in the container's namespace here");

    /* ---- changes from here on: a failure undoes them (handoff_undo), then node ---- */
    bundle.id = o->id;
    bundle.dir = dir;
    bundle.rootfs = rootfs;
    handoff_undo = undo_bundle;
    if (!store_add_image_bundle(o->id, t.image, dir) || !store_commit()) to_node("run --image: record the image bundle");
    bundle.row = true;
    /* mkdirSync(bundles, { recursive: true }); a bundle directory already there is someone else's */
    if (!mkdir_p(bundles, 0777) || mkdir(dir, 0711) != 0) to_node("run --image: make the bundle directory");
    bundle.made = true;
    if (mkdir(rootfs, 0755) || mkdir(upper, 0755) || mkdir(work, 0700)) to_node("run --image: make rootfs, upper and work");
    if (!ephemeral) {
        /* a container that outlives this command: the overlay on the host, under the bundle (a
         * refusal is node's: it falls back to a copy of the layers and says so) */
        struct buf data = {0};
        buf_fmt(&data, "lowerdir=%s,upperdir=%s,workdir=%s", t.lower, upper, work);
        if (mount("overlay", rootfs, "overlay", 0, data.p) != 0) to_node("run --image: mount the overlay on the host");
        bundle.mounted = true;
    }
    if (!write_file(join2(dir, "config.json"), t.config)) to_node("run --image: write config.json");
    o->bundle = dir;
    switch (how) {
    case IMAGE_CREATE: return cmd_create(o);
    case IMAGE_DETACH: return cmd_run(o, true, false);
    case IMAGE_KEEP: return cmd_run(o, false, true);
    default: return cmd_run(o, false, false);
    }
}

/* ---- delete: the image-bundle resources (src/image/release.ts) ------------------------------------ */

struct resource_rows {
    int n;
    char *kind[16], *name[16], *dir[16];
    bool more;
};

static bool collect(void *ctx, const char *kind, const char *name, const char *dir) {
    struct resource_rows *r = ctx;
    if (r->n == 16) return !(r->more = true);
    r->kind[r->n] = strdup(kind);
    r->name[r->n] = strdup(name);
    r->dir[r->n] = dir ? strdup(dir) : NULL;
    r->n++;
    return true;
}

/* `path` is on another file system than `parent` (an overlay mounted on the host); gone = not mounted */
static bool is_mount_point(const char *path, const char *parent) {
    struct stat a, b;
    return stat(path, &a) == 0 && stat(parent, &b) == 0 && a.st_dev != b.st_dev;
}

/*
 * releaseResources for a container whose only resources are image bundles: each unmounted (a
 * host mount, MNT_DETACH) and removed, then its row; false with node's text in `why` on the first
 * failure (the row stays for `delete --force`). Rows of other kinds are not touched.
 */
bool release_image_bundles(const char *id, char *why, size_t whylen) {
    struct resource_rows rows = {0};
    if (!store_each_resource(id, collect, &rows) || rows.more) {
        snprintf(why, whylen, "release the container's resources: cannot read them");
        return false;
    }
    bool ok = true;
    for (int i = 0; i < rows.n; i++) {
        /* another room's: never here (callers leave such containers to node's delete) */
        if (strcmp(rows.kind[i], "image-bundle")) continue;
        const char *dir = rows.dir[i];
        if (!dir || dir[0] != '/') {
            if (ok) snprintf(why, whylen, "release the container's resources: container %s: image-bundle resource without a bundle directory", id);
            ok = false;
            continue;
        }
        char *rootfs = join2(dir, "rootfs");
        if (is_mount_point(rootfs, dir) && umount2(rootfs, MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) {
            if (ok) snprintf(why, whylen, "release the container's resources: unmount %s: %s", rootfs, errno_name(errno));
            ok = false;
            continue;
        }
        int err = remove_all(dir);
        if (err) {
            if (ok) snprintf(why, whylen, "release the container's resources: remove %s: %s", dir, errno_name(err));
            ok = false;
            continue;
        }
        if (!store_remove_image_bundle(id, rows.name[i])) {
            if (ok) snprintf(why, whylen, "release the container's resources: forget %s", dir);
            ok = false;
        }
    }
    return ok;
}
