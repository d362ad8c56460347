/**
 * `npm start`: the whole swarm on one machine. Starts a relay, then 4 volunteers (`--peers N`)
 * and the launcher of the default run (launcher/default-run.ts: MASHA1 + natural dithering on the
 * default bilinear problem, target relative distance 1e-6), all as child `masha` processes on
 * loopback; shows the launcher's live progress; ends with a summary (rounds, relative distance
 * reached, MB up and down, elections) and the files under runs/<runId>/; exits 0 when the run
 * reached its target.
 *
 * Cleanup: every child runs in its own process group and is stopped (SIGTERM, then SIGKILL) when
 * the run ends, on an error, on Ctrl-C / SIGTERM and at the hard timeout; children also exit by
 * themselves if this process is killed outright (launcher/processes.ts).
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { runIdOf, type Manifest } from '@masha/protocol';
import { loadManifestFile } from './cli/manifest-file.js';
import { formatBytes, formatMetric } from './cli/io.js';
import { defaultManifest } from './launcher/default-run.js';
import { ProcessGroup, type ManagedChild } from './launcher/processes.js';
import type { LaunchSummary } from './launcher/summary.js';

interface StartFlags {
  peers: number;
  out: string;
  manifest?: string;
  timeout: number;
  progress: string;
  http: number;
}

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

function seconds(v: string): number {
  const n = Number(v);
  if (!(n > 0) || !Number.isFinite(n)) throw new InvalidArgumentError('expected a positive number of seconds.');
  return n;
}

const say = (text: string): void => {
  process.stderr.write(`npm start: ${text}\n`);
};

async function main(argv: readonly string[]): Promise<number> {
  const program = new Command('npm start --')
    .description('run a relay, the default run and N volunteers on loopback; print the summary')
    .option('--peers <n>', 'number of volunteer processes', positiveInt(32), 4)
    .option('--out <dir>', 'runs directory', 'runs')
    .option('--manifest <file>', 'run this manifest instead of the default run')
    .option('--timeout <seconds>', 'hard limit for the whole run', seconds, 300)
    .option('--progress <mode>', 'progress display: auto, bar, lines, off', 'auto')
    .option('--http <port>', 'port of the relay\'s volunteer page (0 = any free port)', httpPort, 0)
    .exitOverride();
  try {
    program.parse([...argv], { from: 'user' });
  } catch (e) {
    const code = (e as { code?: string }).code;
    return code === 'commander.helpDisplayed' || code === 'commander.version' ? 0 : 2;
  }
  const flags = program.opts<StartFlags>();
  const manifest: Manifest = flags.manifest !== undefined ? loadManifestFile(flags.manifest).manifest : defaultManifest();
  const runId = runIdOf(manifest);
  const outDir = resolve(flags.out);
  const runDir = join(outDir, runId);
  const logDir = join(runDir, 'logs');
  // The run id is a hash of the manifest: a second `npm start` of the same run reuses the
  // directory, so clear the previous run's per-process logs (summary and events are overwritten).
  rmSync(join(runDir, 'peers'), { recursive: true, force: true });
  rmSync(logDir, { recursive: true, force: true });
  mkdirSync(logDir, { recursive: true });
  // The launcher reads the manifest from a file, like a researcher's `masha launch`.
  const manifestPath = flags.manifest !== undefined ? resolve(flags.manifest) : join(runDir, 'manifest.json');
  if (flags.manifest === undefined) writeFileSync(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);

  const group = new ProcessGroup();
  let stopping = false;
  const onExit = (): void => group.killAllSync();
  process.on('exit', onExit);
  const interrupted = new Promise<string>((res) => {
    const handler = (sig: NodeJS.Signals): void => {
      if (stopping) {
        group.killAllSync();
        process.exit(130);
      }
      res(sig);
    };
    process.once('SIGINT', handler);
    process.once('SIGTERM', handler);
    process.once('SIGHUP', handler);
  });
  const hardTimeout = new Promise<string>((res) => setTimeout(() => res('timeout'), flags.timeout * 1000).unref());

  const started = performance.now();
  try {
    say(`run ${runId}: ${manifest.method.name} + ${manifest.compressors.device} on ${manifest.problem.kind}, ${flags.peers} volunteers; logs in ${logDir}`);
    const relay = group.spawnMasha('relay', ['relay', '--json', '--http', String(flags.http)], { stdout: 'pipe', stderr: { file: join(logDir, 'relay.log') } });
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
    say(`relay at ${addr}`);
    if (relayInfo.http !== null) say(`volunteers: open ${relayInfo.http}?run=${runId} in a browser to watch this run and join it`);

    const volunteers: ManagedChild[] = [];
    for (let i = 0; i < flags.peers; i++) {
      volunteers.push(
        group.spawnMasha(`volunteer ${i + 1}`, ['join', '--relay', addr, '--run', runId, '--out', outDir, '--json', '--wait', '120'], {
          stdout: { file: join(logDir, `volunteer-${i + 1}.jsonl`) },
          stderr: { file: join(logDir, `volunteer-${i + 1}.log`) },
        }),
      );
    }
    const launcher = group.spawnMasha(
      'launcher',
      ['--progress', flags.progress, 'launch', '--manifest', manifestPath, '--relay', addr, '--out', outDir, '--json', '--timeout', String(Math.max(10, flags.timeout - 15))],
      { stdout: 'pipe', stderr: 'inherit' },
    );
    let summaryText = '';
    launcher.onStdoutLine((line) => {
      summaryText += `${line}\n`;
    });
    const how = await Promise.race([launcher.exited.then(() => 'done'), interrupted, hardTimeout]);
    if (how !== 'done') {
      stopping = true;
      say(how === 'timeout' ? `hard timeout (${flags.timeout} s): stopping everything` : `interrupted (${how}): stopping everything`);
      await group.stopAll(3_000);
      return how === 'timeout' ? 1 : 130;
    }
    const exit = await launcher.exited;
    // Volunteers leave by themselves shortly after the run ends (they linger to serve stragglers).
    await Promise.race([Promise.all(volunteers.map((v) => v.exited)), new Promise((r) => setTimeout(r, 8_000).unref())]);
    stopping = true;
    await group.stopAll(3_000);
    let summary: LaunchSummary | null = null;
    try {
      summary = JSON.parse(summaryText) as LaunchSummary;
    } catch {
      summary = null;
    }
    if (summary === null) {
      say(`the launcher exited with code ${exit.code} without a summary (see the output above)`);
      return exit.code === 0 ? 1 : (exit.code ?? 1);
    }
    const s = summary;
    const secs = ((performance.now() - started) / 1000).toFixed(1);
    const lines = [
      '',
      `Masha run ${s.runId}`,
      `  ${s.reached ? 'target reached' : 'target NOT reached'}: relative distance ${formatMetric(s.finalRelDist)} (target ${formatMetric(s.target)}) after ${s.iterations} iterations`,
      `  rounds: ${s.committedRounds} committed, ${s.abortedRounds} aborted; elections: ${s.elections}`,
      `  traffic: ${(s.uplinkBytes / 1e6).toFixed(2)} MB up, ${(s.downlinkBytes / 1e6).toFixed(2)} MB down (frames); ${formatBytes(s.wireBytes)} on the wire`,
      `  volunteers: ${s.peersSeen} (${s.peersAtEnd} at the end), state ${s.consistent ? 'consistent on every peer' : 'INCONSISTENT'}; ${secs} s in all`,
      `  files: ${join(runDir, 'summary.json')}`,
      `         ${join(runDir, 'events.jsonl')}`,
      `         ${join(runDir, 'run.svg')}`,
      `         ${join(runDir, 'peers')}/ (one event log per volunteer), ${logDir}/`,
      '',
    ];
    process.stdout.write(lines.join('\n'));
    return s.reached && exit.code === 0 ? 0 : 1;
  } catch (e) {
    stopping = true;
    say(`error: ${(e as Error).message}`);
    await group.stopAll(3_000);
    return 1;
  } finally {
    process.off('exit', onExit);
  }
}

process.exit(await main(process.argv.slice(2)));
