// Hand-made layer tarballs (python's tarfile writes any name, also the hostile ones), for the
// unpacker's tests and the registry tests' images.
import { execFileSync } from "node:child_process";

export interface TarSpec {
  name: string;
  type?: "file" | "dir" | "symlink" | "hardlink" | "char" | "fifo";
  data?: string;
  linkname?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  major?: number;
  minor?: number;
  /** pax SCHILY.xattr.* records */
  xattrs?: Record<string, string>;
  /** more pax records, written as given (e.g. a hostile "path") */
  pax?: Record<string, string>;
}

const WRITE = String.raw`
import io, json, sys, tarfile
out, specs = sys.argv[1], json.loads(sys.stdin.read())
types = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE, "char": tarfile.CHRTYPE, "fifo": tarfile.FIFOTYPE}
with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as t:
    for s in specs:
        i = tarfile.TarInfo(s["name"])
        i.type = types[s.get("type", "file")]
        i.mode = s.get("mode", 0o755 if i.type == tarfile.DIRTYPE else 0o644)
        i.uid, i.gid, i.mtime = s.get("uid", 0), s.get("gid", 0), s.get("mtime", 1700000000)
        i.linkname = s.get("linkname", "")
        i.devmajor, i.devminor = s.get("major", 0), s.get("minor", 0)
        if s.get("xattrs"):
            i.pax_headers = {"SCHILY.xattr." + k: v for k, v in s["xattrs"].items()}
        i.pax_headers.update(s.get("pax", {}))
        data = s.get("data", "").encode()
        i.size = len(data) if i.type == tarfile.REGTYPE else 0
        t.addfile(i, io.BytesIO(data) if i.type == tarfile.REGTYPE else None)
`;

/** Write an uncompressed tar of `entries` to `out`. */
export function writeTar(out: string, entries: TarSpec[]): string {
  execFileSync("python3", ["-c", WRITE, out], { input: JSON.stringify(entries) });
  return out;
}
