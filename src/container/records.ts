// Small facts about a container record that several verbs need.
import { userInfo } from "node:os";
import { join } from "node:path";

/** Per-container files (the exec fifo) live beside the state database, one directory per id. */
export function statePathFor(root: string, id: string): string {
  return join(root, "containers", id);
}

/** The creating user's name, as runc reports `owner` (falls back to the uid without a passwd entry). */
export function ownerName(): string {
  try {
    return userInfo().username;
  } catch {
    return String(process.geteuid?.() ?? 0);
  }
}
