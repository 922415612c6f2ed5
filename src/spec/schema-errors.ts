// Turns the precompiled validator's first error into a message in config.json's own notation:
// `process.rlimits[1].soft: must be an integer`, `mounts[0]: missing required field "destination"`.
import { fieldError, type PolisError } from "../errors.js";
import type { SchemaError } from "./generated/validate-config.js";

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** JSON pointer (`/process/rlimits/1/type`) -> field path (`process.rlimits[1].type`). */
export function pointerToField(pointer: string, root = ""): string {
  let out = root;
  if (pointer === "") return out;
  for (const raw of pointer.slice(1).split("/")) {
    const seg = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (/^(0|[1-9][0-9]*)$/.test(seg)) out += `[${seg}]`;
    else if (IDENT.test(seg)) out += out === "" ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

// Integer bounds beyond 2^53 are not exact as JS numbers; print the values users know.
const BIG: ReadonlyMap<number, string> = new Map([
  [2 ** 64, "18446744073709551615"],
  [2 ** 63, "9223372036854775807"],
  [-(2 ** 63), "-9223372036854775808"],
]);
const bound = (n: number): string => BIG.get(n) ?? String(n);

const ARTICLE: Record<string, string> = {
  object: "an object",
  array: "an array",
  integer: "an integer",
  string: "a string",
  boolean: "a boolean",
  number: "a number",
  null: "null",
};

/** The problem, without the field: `must be an integer`. */
function describe(e: SchemaError): string {
  const p = e.params;
  switch (e.keyword) {
    case "type": {
      const types: string[] = Array.isArray(p.type) ? p.type : String(p.type).split(",");
      return `must be ${types.map((t) => ARTICLE[t] ?? t).join(" or ")}`;
    }
    case "enum":
      return `must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(", ")}`;
    case "minimum":
      return `must be >= ${bound(p.limit)}`;
    case "maximum":
      return `must be <= ${bound(p.limit)}`;
    case "pattern":
      return `must match the pattern ${p.pattern}`;
    case "minItems":
      return `must have at least ${p.limit} item${p.limit === 1 ? "" : "s"}`;
    default:
      return `is invalid (${e.keyword})`;
  }
}

/**
 * A PolisError for the first schema error. `root` names the document when the error is about the
 * document itself (`config.json: missing required field "ociVersion"`); `prefix` roots field paths
 * of a sub-document (a `process.json` for exec is checked as `process`).
 */
export function schemaError(errors: SchemaError[] | null | undefined, root = "config.json", prefix = ""): PolisError {
  const e = errors?.[0];
  if (!e) return fieldError(root, "does not match the schema");
  if (e.keyword === "required") {
    return fieldError(
      pointerToField(e.instancePath, prefix) || root,
      `missing required field ${JSON.stringify(e.params.missingProperty)}`,
    );
  }
  if (e.keyword === "propertyNames" || e.propertyName !== undefined) {
    // a key failed (the only key rule: not empty); ajv reports it against the object
    return fieldError(pointerToField(e.instancePath, prefix) || root, "keys must not be empty");
  }
  return fieldError(pointerToField(e.instancePath, prefix) || root, describe(e));
}
