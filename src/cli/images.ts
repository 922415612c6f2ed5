// `polis images [--format table|json] [-q] [--digests]`, podman's columns.
import { PolisError } from "../errors.js";
import { bool, str, type CliContext } from "./context.js";
import { tabwriter } from "./list.js";

export async function run(ctx: CliContext): Promise<void> {
  const format = str(ctx, "format") ?? "table";
  if (format !== "table" && format !== "json") throw new PolisError(`--format: must be table or json, not "${format}"`);
  const { withStore } = await import("../image/api.js");
  const { listImages } = await import("../image/catalog.js");
  const { mb } = await import("../image/pull.js");
  const rows = await withStore(ctx.global, (store) => listImages(store));
  if (bool(ctx, "quiet")) {
    ctx.io.stdout([...new Set(rows.map((r) => r.id.slice(7, 19)))].map((id) => `${id}\n`).join(""));
    return;
  }
  if (format === "json") {
    ctx.io.stdout(
      JSON.stringify(
        rows.map((r) => ({
          Id: r.id,
          Digest: r.digest,
          Repository: r.repository,
          Tag: r.tag,
          Names: r.names,
          Size: r.size,
          Created: r.created,
          Platform: r.platform,
        })),
        null,
        2,
      ) + "\n",
    );
    return;
  }
  const digests = bool(ctx, "digests");
  const head = ["REPOSITORY", "TAG", ...(digests ? ["DIGEST"] : []), "IMAGE ID", "CREATED", "SIZE"];
  const table = [
    head,
    ...rows.map((r) => [r.repository, r.tag, ...(digests ? [r.digest] : []), r.id.slice(7, 19), ago(r.created), mb(r.size)]),
  ];
  ctx.io.stdout(tabwriter(table, 0, 3));
}

function ago(created: string | null): string {
  if (!created) return "unknown";
  const s = (Date.now() - Date.parse(created)) / 1000;
  if (!Number.isFinite(s)) return "unknown";
  const units: [number, string][] = [
    [31536000, "year"],
    [2592000, "month"],
    [604800, "week"],
    [86400, "day"],
    [3600, "hour"],
    [60, "minute"],
  ];
  for (const [n, u] of units) if (s >= n) return `${Math.floor(s / n)} ${u}${Math.floor(s / n) > 1 ? "s" : ""} ago`;
  return "less than a minute ago";
}
