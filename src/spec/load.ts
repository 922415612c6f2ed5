// Reading and validating config.json: the precompiled schema validator for structure and types,
// then src/spec/semantic.ts for the rules spanning fields. Every failure is a PolisError whose
// message starts with the config.json field path (or the file name for file-level problems).
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { PolisError, fieldError } from "../errors.js";
import { errnoOf } from "../linux/errno.js";
import { validateConfig, validateProcess, validateResources as validateResourcesSchema } from "./generated/validate-config.js";
import { findJsonProblem } from "./json-error.js";
import { schemaError } from "./schema-errors.js";
import { checkProcessSemantics, checkSemantics } from "./semantic.js";
import { acceptResourcesLeniency, acceptRuncLeniency } from "./lenient.js";
import { log } from "../log.js";
import type { Process, Resources, Spec } from "./types.js";

/** Reads, parses and validates `<bundleDir>/config.json`. */
export function loadSpec(bundleDir: string): Spec {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(bundleDir);
  } catch (e) {
    const errno = errnoOf(e);
    const why = errno === "ENOENT" ? "no such directory" : "cannot access it";
    throw new PolisError(`bundle ${JSON.stringify(bundleDir)}: ${why} (${errno})`, { errno, step: "open bundle" });
  }
  if (!st.isDirectory()) {
    throw new PolisError(`bundle ${JSON.stringify(bundleDir)}: not a directory (ENOTDIR)`, {
      errno: "ENOTDIR",
      step: "open bundle",
    });
  }
  const file = join(bundleDir, "config.json");
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    const errno = errnoOf(e);
    const why = errno === "ENOENT" ? `not found in bundle ${JSON.stringify(bundleDir)}` : `cannot read ${file}`;
    throw new PolisError(`config.json: ${why} (${errno})`, { errno, step: "read config.json" });
  }
  return parseSpec(text);
}

/** Parses and validates the text of a config.json. `label` names the file in messages. */
export function parseSpec(text: string, label = "config.json"): Spec {
  return validateSpec(parseJson(text, label), label);
}

/** Validates an already parsed document (schema, then semantics) and fills in implied defaults. */
export function validateSpec(doc: unknown, label = "config.json"): Spec {
  acceptRuncLeniency(doc, (m) => log.warn(m));
  if (!validateConfig(doc)) throw schemaError(validateConfig.errors, label);
  const spec = doc as Spec;
  if (spec.process) normaliseProcess(spec.process);
  checkSemantics(spec);
  return spec;
}

/**
 * Validates a process document (`polis exec --process process.json`), with field paths rooted at
 * `process` so that messages read like the config.json ones.
 */
export function parseProcess(text: string, label = "process.json"): Process {
  const doc = parseJson(text, label);
  if (!validateProcess(doc)) throw schemaError(validateProcess.errors, label, "process");
  const p = doc as Process;
  normaliseProcess(p);
  checkProcessSemantics(p);
  return p;
}

/** Validates a `linux.resources` document (`polis update --resources`), paths rooted there. */
export function validateResources(doc: unknown, label = "resources"): Resources {
  if (typeof doc === "object" && doc !== null && !Array.isArray(doc))
    acceptResourcesLeniency(doc as Record<string, unknown>, (m) => log.warn(m));
  if (!validateResourcesSchema(doc)) throw schemaError(validateResourcesSchema.errors, label, "linux.resources");
  return doc as Resources;
}

function parseJson(text: string, label: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    const where = findJsonProblem(text);
    // JSON.parse and the scanner agree on what is valid; the fallback is for the impossible case
    if (!where) throw fieldError(label, "invalid JSON");
    throw fieldError(label, `invalid JSON at line ${where.line} column ${where.column}: ${where.reason}`);
  }
}

/** `user` and its ids may be left out; like runc, that means root. Types promise they are there. */
function normaliseProcess(p: Process): void {
  p.user ??= { uid: 0, gid: 0 };
  p.user.uid ??= 0;
  p.user.gid ??= 0;
}
