// Slightly-off input that real configs carry and runc accepts: polis accepts it too, fixed up the
// way runc reads it, with a warning naming the field so that the config can be corrected.
// - hugepage limits spelled `pagesize` (or any other case): Go's encoding/json matches object keys
//   case-insensitively, so runc reads them as `pageSize`/`limit`;
// - device rule access with letters beyond r, w and m ("rwmx", "rw rm"): runc keeps the r, w and m
//   it finds and ignores the rest.
// Runs on the parsed document before the schema validator, which would refuse both.

type Warn = (message: string) => void;
type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

/** Fix up `config.json` (the whole document) in place. */
export function acceptRuncLeniency(doc: unknown, warn: Warn): void {
  if (!isObj(doc) || !isObj(doc.linux)) return;
  if (isObj(doc.linux.resources)) acceptResourcesLeniency(doc.linux.resources, warn, "linux.resources");
}

/** Fix up a `linux.resources` object (config.json's, or `polis update --resources`) in place. */
export function acceptResourcesLeniency(res: Obj, warn: Warn, at = "linux.resources"): void {
  if (Array.isArray(res.hugepageLimits)) {
    res.hugepageLimits.forEach((h, i) => {
      if (isObj(h)) renameCaseVariants(h, ["pageSize", "limit"], `${at}.hugepageLimits[${i}]`, warn);
    });
  }
  if (Array.isArray(res.devices)) {
    res.devices.forEach((d, i) => {
      if (!isObj(d) || typeof d.access !== "string") return;
      const access = d.access;
      const kept = ["r", "w", "m"].filter((c) => access.includes(c)).join("");
      // Nothing usable at all is a mistake runc fails on later too: leave it to the validator.
      if (kept === "" || kept === access) return;
      d.access = kept;
      if (/[^rwm]/.test(access))
        warn(
          `${at}.devices[${i}].access: ${JSON.stringify(access)} has letters other than r, w and m; using ${JSON.stringify(kept)} as runc does`,
        );
    });
  }
}

/** `pagesize` -> `pageSize` (when the exact key is absent), as Go's JSON decoder matches it. */
function renameCaseVariants(obj: Obj, keys: string[], at: string, warn: Warn): void {
  for (const key of keys) {
    if (key in obj) continue;
    const variant = Object.keys(obj).find((k) => k.toLowerCase() === key.toLowerCase());
    if (variant === undefined) continue;
    obj[key] = obj[variant];
    delete obj[variant];
    warn(`${at}.${variant}: read as "${key}" (the spec's spelling), as runc does`);
  }
}
