/**
 * `npm start`: the whole swarm on one machine. Starts a relay, then 4 volunteers (`--peers N`)
 * and the launcher of the default run (launcher/default-run.ts: MASHA1 + natural dithering on the
 * default bilinear problem, target relative distance 1e-6), all as child `masha` processes on
 * loopback; shows the launcher's live progress; ends with a summary (rounds, relative distance
 * reached, MB up and down, elections) and the files of this start under
 * runs/<runId>/<start time>/ (runs/<runId>/latest points at it); exits 0 when the run reached its
 * target.
 *
 * Errors take the path every `masha` command takes (cli/errors.ts reportError): a bad flag or
 * manifest prints one line and exits 2, before anything is started or written.
 *
 * Cleanup: every child runs in its own process group and is stopped (SIGTERM, then SIGKILL) when
 * the run ends, on an error, on SIGINT (Ctrl-C), SIGTERM and SIGHUP, when npm — our parent — goes
 * away, and at the hard timeout; children also exit by themselves if this process is killed
 * outright (launcher/processes.ts).
 */
import { createWriteStream, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { isModelManifest, runIdOf, type Manifest } from '@masha/protocol';
import type { RunSummary } from '@masha/protocol/swarm';
import { reportError } from './cli/errors.js';
import { STOP_SIGNALS } from './cli/io.js';
import { loadManifestFile } from './cli/manifest-file.js';
import { startedByNpm, watchParent } from './cli/parent-watch.js';
import { adversarialManifest, defaultManifest } from './launcher/default-run.js';
import { UsageError } from '@masha/protocol';
import { writeJsonFile } from './launcher/files.js';
import { ProcessGroup, type ManagedChild } from './launcher/processes.js';
import { createStartDir } from './launcher/run-dir.js';
import { DEFAULT_LAUNCHER_KEY_FILE, keyedManifest, loadOrCreateLauncherKey } from './launcher/launcher-key.js';
import { startReport } from './cli/report.js';

interface StartFlags {
  peers: number;
  out: string;
  manifest?: string;
  task: 'default' | 'adversarial';
  timeout?: number;
  progress: string;
  http: number;
}

const NAME = 'npm start';

function positiveInt(max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v.trim()) || n < 1 || n > max) throw new InvalidArgumentError(`expected an integer in [1, ${max}].`);
    return n;
  };
}

function httpPort(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || n > 65535) throw new InvalidArgumentError('expected a port number in [0, 65535].');
  return n;
}

function task(v: string): 'default' | 'adversarial' {
  if (v !== 'default' && v !== 'adversarial') throw new InvalidArgumentError('expected default or adversarial.');
  return v;
}

function seconds(v: string): number {
  const n = Number(v);
  if (!(n > 0) || !Number.isFinite(n)) throw new InvalidArgumentError('expected a positive number of seconds.');
  return n;
}

const say = (text: string): void => {
  process.stderr.write(`${NAME}: ${text}\n`);
};

async function main(argv: readonly string[]): Promise<number> {
  const program = new Command(`${NAME} --`)
    .description('run a relay, the default run and N volunteers on loopback; print the summary')
    .option('--peers <n>', 'number of volunteer processes', positiveInt(32), 4)
    .option('--out <dir>', 'runs directory: files go to <dir>/<runId>/<start time>/, <dir>/<runId>/latest points at the newest', 'runs')
    .option('--manifest <file>', 'run this manifest instead of the default run')
    .option('--task <name>', 'default (MASHA1 on the bilinear game) or adversarial (the tiny ALBERT trained adversarially, seed §5.2)', task, 'default')
    .option('--timeout <seconds>', 'hard limit for the whole run (default 300, adversarial 1800)', seconds)
    .option('--progress <mode>', 'progress display: auto, bar, lines, off', 'auto')
    .option('--http <port>', "port of the relay's volunteer page (0 = any free port)", httpPort, 0)
    .exitOverride();
  try {
    program.parse([...argv], { from: 'user' });
  } catch (e) {
    const code = (e as { code?: string }).code;
    return code === 'commander.helpDisplayed' || code === 'commander.version' ? 0 : 2;
  }
  const flags = program.opts<StartFlags>();
  let manifest: Manifest;
  try {
    if (flags.manifest !== undefined && flags.task !== 'default') throw new UsageError('--task', 'cannot be combined with --manifest');
    manifest =
      flags.manifest !== undefined ? loadManifestFile(flags.manifest).manifest : flags.task === 'adversarial' ? adversarialManifest() : defaultManifest();
  } catch (e) {
    return reportError(NAME, e, process.stderr);
  }
  // The launcher's key (.masha/launcher.key, created on first use) is part of the run: fill it in
  // here, so the run id the volunteers are given is the one the launcher publishes.
  try {
    manifest = keyedManifest(manifest, loadOrCreateLauncherKey(DEFAULT_LAUNCHER_KEY_FILE));
  } catch (e) {
    return reportError(NAME, e, process.stderr);
  }
  const runId = runIdOf(manifest);
  const outDir = resolve(flags.out);
  const timeout = flags.timeout ?? (flags.task === 'adversarial' ? 1800 : 300);

  const group = new ProcessGroup();
  let stopping = false;
  const onExit = (): void => group.killAllSync();
  process.on('exit', onExit);
  let stopWatching: () => void = () => {};
  const interrupted = new Promise<string>((res) => {
    const handler = (sig: NodeJS.Signals): void => {
      if (stopping) {
        group.killAllSync();
        process.exit(130);
      }
      res(sig);
    };
    for (const sig of STOP_SIGNALS) process.once(sig, handler);
    // npm runs us as `exec node …` (see package.json), so it hands its SIGTERM on to us; should npm
    // itself be killed outright, we notice that our parent is gone.
    if (startedByNpm()) stopWatching = watchParent(() => handler('SIGHUP'));
  });
  const hardTimeout = new Promise<string>((res) => setTimeout(() => res('timeout'), timeout * 1000).unref());

  const started = performance.now();
  try {
    // Nothing is written before the relay is up: its output waits in memory until then.
    const relay = group.spawnMasha('relay', ['relay', '--json', '--ephemeral', '--http', String(flags.http)], { stdout: 'pipe', stderr: 'pipe' });
    const relayOutput: Buffer[] = [];
    const collect = (b: Buffer): void => void relayOutput.push(b);
    relay.process.stderr?.on('data', collect);
    const relayInfo = await Promise.race([
      relay.waitForLine((line) => {
        try {
          const j = JSON.parse(line) as { multiaddrs?: string[]; http?: string | null };
          return Array.isArray(j.multiaddrs) ? { multiaddrs: j.multiaddrs, http: j.http ?? null } : undefined;
        } catch {
          return undefined;
        }
      }, 60_000),
      interrupted.then((s) => Promise.reject(new Error(`interrupted (${s})`))),
    ]);
    const relayAddrs = relayInfo.multiaddrs;
    const addr = relayAddrs.find((a) => a.includes('/tcp/') && !a.includes('/ws')) ?? relayAddrs[0];

    const dir = createStartDir(outDir, runId, Date.now());
    const logDir = join(dir, 'logs');
    mkdirSync(logDir, { recursive: true });
    const relayLog = createWriteStream(join(logDir, 'relay.log'), { flags: 'a' });
    relay.process.stderr?.off('data', collect);
    for (const b of relayOutput) relayLog.write(b);
    relay.process.stderr?.pipe(relayLog);
    say(`run ${runId}: ${manifest.method.name} + ${manifest.compressors.device} on ${manifest.problem.kind}, ${flags.peers} volunteers`);
    say(`relay at ${addr}; files in ${dir}`);
    // The launcher reads the manifest from a file, like a researcher's `masha launch`.
    let manifestPath: string;
    if (flags.manifest !== undefined) {
      manifestPath = resolve(flags.manifest);
    } else {
      manifestPath = join(dir, 'manifest.json');
      await writeJsonFile(manifestPath, manifest);
    }
    if (relayInfo.http !== null) say(`volunteers: open ${relayInfo.http}?run=${runId} in a browser to watch this run and join it`);

    const volunteers: ManagedChild[] = [];
    for (let i = 0; i < flags.peers; i++) {
      volunteers.push(
        group.spawnMasha(`volunteer ${i + 1}`, ['join', '--relay', addr, '--run', runId, '--log-dir', join(dir, 'peers'), '--json', '--wait', '120'], {
          stdout: { file: join(logDir, `volunteer-${i + 1}.jsonl`) },
          stderr: { file: join(logDir, `volunteer-${i + 1}.log`) },
        }),
      );
    }
    const launcher = group.spawnMasha(
      'launcher',
      [
        '--progress',
        flags.progress,
        'launch',
        '--manifest',
        manifestPath,
        '--key',
        resolve(DEFAULT_LAUNCHER_KEY_FILE),
        '--relay',
        addr,
        '--dir',
        dir,
        '--json',
        '--timeout',
        String(Math.max(10, timeout - 15)),
      ],
      { stdout: 'pipe', stderr: 'inherit' },
    );
    let summaryText = '';
    launcher.onStdoutLine((line) => {
      summaryText += `${line}\n`;
    });
    const how = await Promise.race([launcher.exited.then(() => 'done'), interrupted, hardTimeout]);
    if (how !== 'done') {
      stopping = true;
      say(how === 'timeout' ? `hard timeout (${timeout} s): stopping everything` : `interrupted (${how}): stopping everything`);
      await group.stopAll(3_000);
      return how === 'timeout' ? 1 : 130;
    }
    const exit = await launcher.exited;
    // Volunteers leave by themselves shortly after the run ends (they linger to serve stragglers).
    await Promise.race([Promise.all(volunteers.map((v) => v.exited)), new Promise((r) => setTimeout(r, 8_000).unref())]);
    stopping = true;
    await group.stopAll(3_000);
    let summary: RunSummary | null = null;
    try {
      summary = JSON.parse(summaryText) as RunSummary;
    } catch {
      summary = null;
    }
    if (summary === null) {
      say(`the launcher exited with code ${exit.code} without a summary (see the output above)`);
      return exit.code === 0 ? 1 : (exit.code ?? 1);
    }
    process.stdout.write(startReport(summary, dir, (performance.now() - started) / 1000));
    if (isModelManifest(manifest)) process.stdout.write(modelReport(dir));
    return summary.reached && exit.code === 0 ? 0 : 1;
  } catch (e) {
    stopping = true;
    const code = reportError(NAME, e, process.stderr);
    await group.stopAll(3_000);
    return code;
  } finally {
    stopWatching();
    process.off('exit', onExit);
  }
}

/** The model figures of a model run (model.json, written by the launcher). */
function modelReport(dir: string): string {
  try {
    const m = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as {
      final: { loss: number; accuracy: number; robustAccuracy: number | null; examples: number } | null;
      curve: { testLoss: number[] };
      seconds: { perRound: { mean: number }; perIteration: number | null };
    };
    const f = m.final;
    const curve = m.curve.testLoss;
    const lines = [
      `  test loss (probe)     ${curve.length > 0 ? `${curve[0].toFixed(4)} → ${curve[curve.length - 1].toFixed(4)}` : '—'}`,
      f
        ? `  test accuracy         ${(100 * f.accuracy).toFixed(1)} % of ${f.examples}${f.robustAccuracy !== null ? `, robust ${(100 * f.robustAccuracy).toFixed(1)} %` : ''}`
        : '  test accuracy         —',
      `  time                  ${m.seconds.perRound.mean.toFixed(2)} s per round${m.seconds.perIteration !== null ? `, ${m.seconds.perIteration.toFixed(2)} s per iteration` : ''}`,
      `  figures               ${join(dir, 'loss.svg')}, model.json, rounds.csv`,
    ];
    return `${lines.join('\n')}\n`;
  } catch {
    return '';
  }
}

process.exit(await main(process.argv.slice(2)));
