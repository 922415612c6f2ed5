// The fast command-line parser: runc's grammar (urfave/cli on top of Go's flag package) in a
// few dozen lines, so that `polis state` never pays for yargs.
//
//   polis [global flags] <command> [command flags] <positionals...>
//
// `-x` and `--x` are the same flag; values come as `--x=v` or `--x v`; a boolean takes a value
// only with `=`; `--` ends the flags; unknown flags are errors. Like runc, known command flags
// are still recognised after the positionals, except for exec and ps, whose trailing arguments
// belong to the command being run.
import { COMMANDS, GLOBAL_OPTIONS, type CommandSpec, type OptionSpec } from "./commands.js";

export type OptionValue = boolean | string | number | string[];
export type OptionValues = Record<string, OptionValue | undefined>;

export interface ParsedOptions {
  values: OptionValues; // every option of the table, defaults filled in
  given: Set<string>; // long names set explicitly on the command line
}

export type Parsed =
  | { kind: "version"; global: ParsedOptions }
  | { kind: "help"; global: ParsedOptions; topic?: CommandSpec }
  | { kind: "command"; global: ParsedOptions; command: CommandSpec; options: ParsedOptions; args: string[] };

/** A command-line mistake. main prints "Incorrect Usage" and a usage hint, then the message. */
export class UsageError extends Error {
  constructor(
    message: string,
    /** The command whose usage to show; undefined for the global usage. */
    readonly command?: CommandSpec,
    /** runc exits 3 for an unknown command and prints no usage. */
    readonly exitCode = 1,
    /** The flag problem alone (runc's stdout line), when the error is about a flag. */
    readonly flagProblem?: string,
    /** The global flags, when they parsed: the error still goes to the --log file. */
    public global?: ParsedOptions,
  ) {
    super(message);
    this.name = "UsageError";
  }
}

export function findCommand(name: string): CommandSpec | undefined {
  return COMMANDS.find((c) => c.name === name || c.aliases?.includes(name));
}

export function parseArgv(argv: readonly string[]): Parsed {
  const global = emptyOptions(GLOBAL_OPTIONS);
  let i = 0;
  for (; i < argv.length; i++) {
    const tok = argv[i];
    if (tok === "--") {
      i++;
      break;
    }
    if (!isFlagToken(tok)) break;
    try {
      i = takeFlag(argv, i, GLOBAL_OPTIONS, global);
    } catch (e) {
      const problem = (e as Error).message;
      throw new UsageError(`polis: ${problem}`, undefined, 1, problem);
    }
  }
  if (global.values.help) return { kind: "help", global };
  if (global.values.version) return { kind: "version", global };
  if (i >= argv.length) return { kind: "help", global };

  try {
    return parseCommand(argv, i, global);
  } catch (e) {
    if (e instanceof UsageError) e.global = global;
    throw e;
  }
}

function parseCommand(argv: readonly string[], i: number, global: ParsedOptions): Parsed {
  const name = argv[i++];
  const command = findCommand(name);
  if (!command) throw new UsageError(`No help topic for '${name}'`, undefined, 3);

  if (command.name === "help") {
    const topicName = argv.slice(i).find((a) => !isFlagToken(a));
    if (topicName === undefined) return { kind: "help", global };
    const topic = findCommand(topicName);
    if (!topic) throw new UsageError(`No help topic for '${topicName}'`, undefined, 3);
    return { kind: "help", global, topic: topic.name === "help" ? undefined : topic };
  }

  const options = emptyOptions(command.options);
  const args: string[] = [];
  const specs = [...command.options, HELP_FLAG];
  for (; i < argv.length; i++) {
    const tok = argv[i];
    if (tok === "--") {
      args.push(...argv.slice(i + 1));
      break;
    }
    const flagAllowed = args.length === 0 || (!command.stopAtFirstPositional && lookup(specs, tok) !== undefined);
    if (!flagAllowed || !isFlagToken(tok)) {
      args.push(tok);
      continue;
    }
    try {
      i = takeFlag(argv, i, specs, options);
    } catch (e) {
      const problem = (e as Error).message;
      throw new UsageError(`polis ${command.name}: ${problem}`, command, 1, problem);
    }
  }
  if (options.values.help) return { kind: "help", global, topic: command };
  delete options.values.help;
  // A flag that changes what the positionals mean (`events --all` takes none) has its own bounds.
  const alt = command.argsWithFlag;
  checkArgCount(
    alt && options.given.has(alt.flag) ? { ...command, minArgs: alt.minArgs, maxArgs: alt.maxArgs } : command,
    args.length,
  );
  return { kind: "command", global, command, options, args };
}

const HELP_FLAG: OptionSpec = { name: "help", alias: "h", type: "boolean", description: "show help" };

/** runc's checkArgs wording, kept exact: scripts match on it. */
function checkArgCount(c: CommandSpec, n: number): void {
  let problem: string | undefined;
  if (c.minArgs === c.maxArgs && n !== c.minArgs) problem = `requires exactly ${c.minArgs} argument(s)`;
  else if (n < c.minArgs) problem = `requires a minimum of ${c.minArgs} argument(s)`;
  else if (n > c.maxArgs) problem = `requires a maximum of ${c.maxArgs} argument(s)`;
  if (problem) throw new UsageError(`polis: "${c.name}" ${problem}`, c);
}

function emptyOptions(specs: readonly OptionSpec[]): ParsedOptions {
  const values: OptionValues = {};
  for (const s of specs) {
    values[s.name] = s.default ?? (s.type === "boolean" ? false : s.type === "strings" ? [] : undefined);
  }
  return { values, given: new Set() };
}

/** Go's flag package: "-" alone is an argument, anything else starting with "-" is a flag. */
function isFlagToken(tok: string): boolean {
  return tok.length > 1 && tok[0] === "-";
}

function splitFlag(tok: string): { name: string; value?: string } {
  const body = tok.startsWith("--") ? tok.slice(2) : tok.slice(1);
  if (body === "" || body[0] === "-" || body[0] === "=") throw new Error(`bad flag syntax: ${tok}`);
  const eq = body.indexOf("=");
  return eq < 0 ? { name: body } : { name: body.slice(0, eq), value: body.slice(eq + 1) };
}

function lookup(specs: readonly OptionSpec[], tok: string): OptionSpec | undefined {
  if (!isFlagToken(tok) || tok === "--") return undefined;
  let name: string;
  try {
    name = splitFlag(tok).name;
  } catch {
    return undefined;
  }
  return specs.find((s) => s.name === name || s.alias === name);
}

/** Consume the flag at argv[i] (and its value), store it; returns the index of the last token used. */
function takeFlag(argv: readonly string[], i: number, specs: readonly OptionSpec[], into: ParsedOptions): number {
  const { name, value } = splitFlag(argv[i]);
  const spec = specs.find((s) => s.name === name || s.alias === name);
  if (!spec) throw new Error(`flag provided but not defined: -${name}`);
  let raw = value;
  if (spec.type === "boolean") {
    into.values[spec.name] = raw === undefined ? true : parseBool(raw, name);
    into.given.add(spec.name);
    return i;
  }
  if (raw === undefined) {
    if (i + 1 >= argv.length) throw new Error(`flag needs an argument: -${name}`);
    raw = argv[++i];
  }
  if (spec.type === "number") into.values[spec.name] = parseInteger(raw, name);
  else if (spec.type === "strings") into.values[spec.name] = [...((into.values[spec.name] as string[]) ?? []), raw];
  else into.values[spec.name] = raw;
  into.given.add(spec.name);
  return i;
}

// Go's strconv.ParseBool spellings.
const TRUE = new Set(["1", "t", "T", "TRUE", "true", "True"]);
const FALSE = new Set(["0", "f", "F", "FALSE", "false", "False"]);

function parseBool(raw: string, name: string): boolean {
  if (TRUE.has(raw)) return true;
  if (FALSE.has(raw)) return false;
  throw new Error(`invalid boolean value "${raw}" for -${name}: parse error`);
}

function parseInteger(raw: string, name: string): number {
  const m = /^([+-]?)(0x[0-9a-f]+|\d+)$/i.exec(raw);
  const n = m ? (m[1] === "-" ? -1 : 1) * Number(m[2]) : NaN;
  if (!Number.isSafeInteger(n)) throw new Error(`invalid value "${raw}" for flag -${name}: parse error`);
  return n;
}
