/**
 * The `masha-sim` command tree. Subcommands live in `commands/<name>.ts` and are registered by
 * one line each in `commands/index.ts`; this module builds the tree, runs it, and turns errors
 * into exit codes:
 *   0 success; 2 bad flags, specs or input files (one line naming the flag/field, no stack trace);
 *   1 anything unexpected (stack trace only with MASHA_DEBUG=1).
 */
import { Command, CommanderError, Option } from 'commander';
import { MashaError } from '@masha/protocol';
import type { ProgressMode, ProgressStream } from '../io/progress.js';
import type { CliCommand, CliContext } from './command.js';
import * as commands from './commands/index.js';
import { oneOf } from './options.js';
import { stdoutFile } from './stdout-file.js';

export const PROGRAM_NAME = 'masha-sim';
export const VERSION = '0.1.0';

/** Descriptions of group commands (created on demand from command paths). */
const GROUP_DESCRIPTIONS: Readonly<Record<string, string>> = {
  repro: "reproduce the papers' experiments (writes CSV, JSON and SVG plots)",
  trace: 'churn traces (JSON Lines) for the simulator',
  manifest: 'run manifests',
};

export interface CliIO {
  readonly stdout?: ProgressStream;
  readonly stderr?: ProgressStream;
  readonly cwd?: string;
  /** The file stdout goes to, if any (default: looked up when stdout is the process's own). */
  readonly stdoutPath?: string | null;
}

function findOrCreateGroup(parent: Command, name: string): Command {
  const existing = parent.commands.find((c) => c.name() === name);
  if (existing) return existing;
  const group = parent.command(name).description(GROUP_DESCRIPTIONS[name] ?? `${name} commands`);
  return group;
}

function register(program: Command, spec: CliCommand<never>, context: (cmd: Command) => CliContext, setExit: (code: number) => void): void {
  let parent = program;
  for (const group of spec.path.slice(0, -1)) parent = findOrCreateGroup(parent, group);
  const leaf = spec.path[spec.path.length - 1];
  const cmd = parent.command(leaf).description(spec.description);
  spec.configure(cmd);
  cmd.action(async (...args: unknown[]) => {
    const self = args[args.length - 1] as Command;
    // Commander has validated the flags declared in `configure`; their types are the command's business.
    const code = await spec.run(self.opts<never>(), context(self), self.args);
    setExit(typeof code === 'number' ? code : 0);
  });
}

/** Builds the command tree. `context` supplies the streams a command writes to. */
export function buildProgram(io: Required<CliIO>, setExit: (code: number) => void = () => {}): Command {
  const program = new Command(PROGRAM_NAME);
  program
    .description("Masha's simulator: paper reproductions, single runs on problem files, plots")
    .version(VERSION, '-V, --version')
    .addOption(
      new Option('--progress <mode>', 'progress display on stderr: auto (bar on a TTY, plain lines otherwise), bar, lines, off')
        .default('auto')
        .argParser(oneOf<ProgressMode>(['auto', 'bar', 'lines', 'off'])),
    )
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => void io.stdout.write(s),
      writeErr: (s) => void io.stderr.write(s),
      outputError: (s, write) => write(s.startsWith('error:') ? `${PROGRAM_NAME}: ${s}` : s),
    });
  const context = (cmd: Command): CliContext => ({
    stdout: io.stdout,
    stderr: io.stderr,
    cwd: io.cwd,
    stdoutPath: io.stdoutPath,
    progress: cmd.optsWithGlobals<{ progress: ProgressMode }>().progress,
  });
  for (const spec of Object.values(commands) as readonly CliCommand<never>[]) register(program, spec, context, setExit);
  return program;
}

/** Runs the CLI on `argv` (without the node and script entries); resolves to the exit code. */
export async function runCli(argv: readonly string[], io: CliIO = {}): Promise<number> {
  const full: Required<CliIO> = {
    stdout: io.stdout ?? process.stdout,
    stderr: io.stderr ?? process.stderr,
    cwd: io.cwd ?? process.cwd(),
    stdoutPath: io.stdoutPath !== undefined ? io.stdoutPath : io.stdout === undefined ? stdoutFile() : null,
  };
  let exit = 0;
  const program = buildProgram(full, (code) => {
    exit = code;
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exit;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Commander has already printed its message (or the help text).
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version') return 0;
      if (e.code === 'commander.help' || e.code === 'commander.executeSubCommandAsync') return e.exitCode === 0 ? 0 : 2;
      return 2;
    }
    if (e instanceof MashaError) {
      full.stderr.write(`${PROGRAM_NAME}: error: ${e.message}\n`);
      return 2;
    }
    const err = e instanceof Error ? e : new Error(String(e));
    full.stderr.write(`${PROGRAM_NAME}: internal error: ${err.message}\n`);
    if (process.env.MASHA_DEBUG) full.stderr.write(`${err.stack ?? ''}\n`);
    return 1;
  }
}
