/**
 * The `masha` command tree: relay, launch, join, status, train. Errors become one line on stderr and an
 * exit code (errors.ts): bad flags and manifests name the flag or field, unreachable relays say
 * which addresses and how long; stack traces only with MASHA_DEBUG=1.
 */
import { Command, CommanderError, Option } from 'commander';
import { PROGRESS_MODES, type ProgressMode } from './progress.js';
import { configureJoin, runJoin, type JoinFlags } from './commands/join.js';
import { configureLaunch, runLaunch, type LaunchFlags } from './commands/launch.js';
import { configureRelay, runRelay, type RelayFlags } from './commands/relay.js';
import { configureStatus, runStatus, type StatusFlags } from './commands/status.js';
import { configureTrain, runTrain, type TrainFlags } from './commands/train.js';
import { configureToken, runToken, type TokenFlags } from './commands/token.js';
import { EXIT, oneOf, reportError } from './errors.js';
import type { CliContext, CliStream } from './io.js';

export const PROGRAM_NAME = 'masha';
export const VERSION = '0.1.0';

export interface CliIO {
  readonly stdout?: CliStream;
  readonly stderr?: CliStream;
  readonly cwd?: string;
}

type Runner<F> = (flags: F, ctx: CliContext) => Promise<number>;

export function buildProgram(io: Required<CliIO>, setExit: (code: number) => void): Command {
  const program = new Command(PROGRAM_NAME);
  program
    .description('Masha: a peer-to-peer volunteer training network — relays, runs, volunteers')
    .version(VERSION, '-V, --version')
    .addOption(
      new Option('--progress <mode>', 'progress display on stderr: auto (bar on a TTY, plain lines otherwise), bar, lines, off')
        .default('auto')
        .argParser(oneOf<ProgressMode>(PROGRESS_MODES)),
    )
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => void io.stdout.write(s),
      writeErr: (s) => void io.stderr.write(s),
      outputError: (s, write) => write(s.startsWith('error:') ? `${PROGRAM_NAME}: ${s}` : s),
    });
  const add = <F>(name: string, configure: (cmd: Command) => void, run: Runner<F>): void => {
    const cmd = program.command(name);
    configure(cmd);
    cmd.action(async (...args: unknown[]) => {
      const self = args[args.length - 1] as Command;
      const ctx: CliContext = {
        stdout: io.stdout,
        stderr: io.stderr,
        cwd: io.cwd,
        progress: self.optsWithGlobals<{ progress: ProgressMode }>().progress,
      };
      setExit(await run(self.opts() as F, ctx));
    });
  };
  add<RelayFlags>('relay', configureRelay, runRelay);
  add<LaunchFlags>('launch', configureLaunch, runLaunch);
  add<JoinFlags>('join', configureJoin, runJoin);
  add<StatusFlags>('status', configureStatus, runStatus);
  add<TrainFlags>('train', configureTrain, runTrain);
  add<TokenFlags>('token', configureToken, runToken);
  return program;
}

/** Runs the CLI on `argv` (without the node and script entries); resolves to the exit code. */
export async function runCli(argv: readonly string[], io: CliIO = {}): Promise<number> {
  const full: Required<CliIO> = {
    stdout: io.stdout ?? process.stdout,
    stderr: io.stderr ?? process.stderr,
    cwd: io.cwd ?? process.cwd(),
  };
  let exit: number = EXIT.ok;
  const program = buildProgram(full, (code) => {
    exit = code;
  });
  let sub = argv.find((a) => !a.startsWith('-')) ?? '';
  if (!['relay', 'launch', 'join', 'status', 'train'].includes(sub)) sub = '';
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exit;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version') return EXIT.ok;
      if (e.code === 'commander.help') return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
      return EXIT.usage;
    }
    return reportError(sub ? `${PROGRAM_NAME} ${sub}` : PROGRAM_NAME, e, full.stderr);
  }
}
