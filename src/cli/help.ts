// Help text. `--help` renders the command table through yargs, loaded only here (it costs
// ~190 ms); a usage mistake prints just the cheap usage hint.
import { COMMANDS, GLOBAL_OPTIONS, type CommandSpec, type OptionSpec } from "./commands.js";

const PROGRAM = "polis";

/** The short usage runc prints after "Incorrect Usage". */
export function usageHint(command?: CommandSpec): string {
  const line = command
    ? `${PROGRAM} ${command.name} ${command.usage}`
    : `${PROGRAM} [global options] command [command options] [arguments...]`;
  const more = command ? `${PROGRAM} ${command.name} --help` : `${PROGRAM} --help`;
  return `USAGE:\n   ${line.trimEnd()}\n\nRun '${more}' for more information.\n`;
}

/** Full help for one command, or for polis itself when `topic` is undefined. */
export async function renderHelp(topic?: CommandSpec): Promise<string> {
  const { default: yargs } = await import("yargs");
  const y = yargs([]).locale("en").help(false).version(false).wrap(100);
  if (topic) {
    y.scriptName(`${PROGRAM} ${topic.name}`).usage(`$0 ${topic.usage}\n\n${topic.summary}`);
    y.options(yargsOptions(topic.options));
    if (topic.description) y.epilog(topic.description);
  } else {
    y.scriptName(PROGRAM).usage(
      `$0 [global options] command [command options] [arguments...]\n\n` +
        "polis is a daemonless OCI container runtime with runc's command line.",
    );
    for (const c of COMMANDS.filter((c) => !c.hidden)) y.command(c.aliases ? [c.name, ...c.aliases] : c.name, c.summary);
    y.options(yargsOptions(GLOBAL_OPTIONS));
  }
  return (await y.getHelp()) + "\n";
}

function yargsOptions(specs: readonly OptionSpec[]): Record<string, object> {
  const out: Record<string, object> = {};
  for (const s of specs) {
    out[s.name] = {
      alias: s.alias,
      description: s.description,
      type: s.type === "strings" ? "array" : s.type,
      ...(s.type === "strings" ? { string: true } : {}),
      ...(s.default !== undefined && s.type !== "boolean" ? { default: s.default } : {}),
    };
  }
  return out;
}
