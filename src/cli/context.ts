// What every src/cli/<command>.ts receives: the parsed command line and where to print.
import { isAbsolute, resolve } from "node:path";
import type { GlobalOptions } from "../container/options.js";
import { PolisError, type ErrorDetail } from "../errors.js";
import type { OptionValues } from "./argv.js";

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: Record<string, string | undefined>;
  /** The caller's working directory, asked only when a relative path needs it. */
  cwd: () => string;
}

export interface CliContext {
  global: GlobalOptions;
  options: OptionValues;
  /** Long names of the options set explicitly (runc's IsSet). */
  given: Set<string>;
  args: string[];
  io: CliIo;
}

/** A command module: returns the exit code (undefined means 0). */
// biome-ignore lint/suspicious/noConfusingVoidType: most command modules return nothing (exit 0)
export type CommandRun = (ctx: CliContext) => Promise<number | void>;

/** A path from the command line, made absolute against the caller's cwd. */
export function absPath(ctx: CliContext, p: string): string {
  return isAbsolute(p) ? p : resolve(ctx.io.cwd(), p);
}

export function str(ctx: CliContext, name: string): string | undefined {
  const v = ctx.options[name];
  return typeof v === "string" ? v : undefined;
}

export function bool(ctx: CliContext, name: string): boolean {
  return ctx.options[name] === true;
}

export function num(ctx: CliContext, name: string): number {
  const v = ctx.options[name];
  return typeof v === "number" ? v : 0;
}

export function list(ctx: CliContext, name: string): string[] {
  const v = ctx.options[name];
  return Array.isArray(v) ? v : [];
}

/** Absolute path of an optional path flag. */
export function pathOpt(ctx: CliContext, name: string): string | undefined {
  const v = str(ctx, name);
  return v === undefined || v === "" ? undefined : absPath(ctx, v);
}

/** A failure with an exit code other than 1 (exec's 255). `cause` keeps the original for --debug. */
export class CommandFailed extends PolisError {
  constructor(
    message: string,
    detail: ErrorDetail,
    readonly exitCode: number,
    readonly original?: unknown,
  ) {
    super(message, detail);
  }
}
