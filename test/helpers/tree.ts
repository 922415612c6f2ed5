// A snapshot of a file tree as seen from outside polis (python's os.lstat and os.listxattr), to
// compare what polis unpacked with what GNU tar or umoci unpacked from the same layers.
import { execFileSync } from "node:child_process";

export interface TreeEntry {
  type: string;
  mode: string;
  uid: number;
  gid: number;
  /** sha256 of a regular file, the target of a symlink, "major,minor" of a device */
  content?: string;
  mtime?: number;
  nlink?: number;
  xattrs: Record<string, string>;
}

const WALK = String.raw`
import hashlib, json, os, stat, sys
root = sys.argv[1]
out = {}
for d, dirs, files in os.walk(root):
    for n in sorted(dirs + files) + ([] if d != root else ["."]):
        p = os.path.normpath(os.path.join(d, n))
        st = os.lstat(p)
        m = st.st_mode
        e = {"type": "dir" if stat.S_ISDIR(m) else "file" if stat.S_ISREG(m) else "symlink" if stat.S_ISLNK(m)
             else "char" if stat.S_ISCHR(m) else "block" if stat.S_ISBLK(m) else "fifo" if stat.S_ISFIFO(m) else "other",
             "mode": oct(stat.S_IMODE(m)), "uid": st.st_uid, "gid": st.st_gid, "mtime": int(st.st_mtime)}
        if stat.S_ISREG(m):
            e["content"] = hashlib.sha256(open(p, "rb").read()).hexdigest()
            e["nlink"] = st.st_nlink
        elif stat.S_ISLNK(m):
            e["content"] = os.readlink(p)
        elif stat.S_ISCHR(m) or stat.S_ISBLK(m):
            e["content"] = "%d,%d" % (os.major(st.st_rdev), os.minor(st.st_rdev))
        x = {}
        for a in os.listxattr(p, follow_symlinks=False):
            x[a] = os.getxattr(p, a, follow_symlinks=False).hex()
        e["xattrs"] = x
        out[os.path.relpath(p, root)] = e
print(json.dumps(out))
`;

export function snapshot(
  root: string,
  opts: { mtimes?: boolean; ignore?: (path: string) => boolean } = {},
): Record<string, TreeEntry> {
  const all = JSON.parse(execFileSync("python3", ["-c", WALK, root], { encoding: "utf8", maxBuffer: 256 << 20 })) as Record<
    string,
    TreeEntry
  >;
  const out: Record<string, TreeEntry> = {};
  for (const [path, e] of Object.entries(all)) {
    if (opts.ignore?.(path)) continue;
    if (!opts.mtimes || e.type === "dir") delete e.mtime;
    out[path] = e;
  }
  return out;
}
