// One error shape for the whole runtime (crun's convention): what failed, where in config.json,
// which step, and the errno. The CLI prints `message` and exits 1.

export interface ErrorDetail {
  /** config.json field path, e.g. `linux.resources.memory.limit` or `mounts[2].destination` */
  field?: string;
  /** the step that failed, e.g. `mount proc on /proc` */
  step?: string;
  /** errno name, e.g. `ENOENT` */
  errno?: string;
}

export class PolisError extends Error {
  readonly detail: ErrorDetail;
  constructor(message: string, detail: ErrorDetail = {}) {
    super(message);
    this.name = "PolisError";
    this.detail = detail;
  }
}

/** A config.json problem: the message always starts with the field path. */
export function fieldError(field: string, problem: string): PolisError {
  return new PolisError(`${field}: ${problem}`, { field });
}
