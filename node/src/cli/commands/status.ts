/**
 * `masha status --relay ADDR`: a live table of the runs announced on the swarm and of their peers
 * (shards held, aggregator, round, metric, bytes up and down), redrawn every second until Ctrl-C.
 * `--json` (or `--once`) listens for `--wait` seconds, prints one snapshot and exits.
 *
 * Runs whose launcher has gone are no longer announced; the relay remembers what it heard
 * (net/run-registry.ts), so such a run is still listed: finished (and how — target reached or
 * not, why it stopped), or silent (its announcements stopped without an end: the launcher died).
 */
import type { Command } from 'commander';
import Table from 'cli-table3';
import { connectSwarm } from '../../launcher/connect.js';
import { RunDirectory, StatusBoard } from '../../launcher/directory.js';
import { LIVE_WINDOW_MS } from '../../launcher/launch.js';
import { isRunId, type RunOutcome, type RunRecord } from '@masha/protocol/swarm';
import { fetchRunRegistry } from '../../net/run-registry.js';
import { collect, EXIT, parseSeconds, UsageError } from '../errors.js';
import { formatBytes, formatMetric, interruptSignal, shortId, type CliContext } from '../io.js';

export interface StatusFlags {
  relay?: string[];
  run?: string;
  json?: boolean;
  once?: boolean;
  wait: number;
  connectTimeout: number;
}

export function configureStatus(cmd: Command): void {
  cmd
    .description('live table of the runs on the swarm and their peers: shards, aggregator, round, metric, bytes up/down')
    .option('--relay <multiaddr>', 'relay address with /p2p/<id> (repeatable)', collect)
    .option('--run <id>', 'show this run only')
    .option('--json', 'print one JSON snapshot after --wait seconds and exit')
    .option('--once', 'print one table after --wait seconds and exit')
    .option('--wait <seconds>', 'how long to listen before a snapshot (--json, --once)', parseSeconds, 3)
    .option('--connect-timeout <seconds>', 'how long to wait for a relay', parseSeconds, 10)
    .addHelpText('after', '\nExit codes: 0 ok, 2 bad flags, 3 relay unreachable (or, with --run, the run was not announced within --wait).');
}

export interface StatusSnapshot {
  readonly runs: {
    readonly runId: string;
    /** open | finished (announced so) | silent (the relay stopped hearing it without an end). */
    readonly state: 'open' | 'finished' | 'silent';
    /** How a finished run ended, as its launcher announced it. */
    readonly outcome: RunOutcome | null;
    /** Seconds since the run was last announced (live runs: about 0). */
    readonly lastAnnouncedSecondsAgo: number;
    readonly method: string;
    readonly compressor: string;
    readonly launcher: string;
    readonly peers: {
      readonly peer: string;
      readonly live: boolean;
      readonly isAggregator: boolean;
      readonly aggregator: string | null;
      readonly epoch: number;
      readonly round: number;
      readonly iteration: number;
      readonly metric: number | null;
      readonly held: readonly number[];
      readonly heldCount: number;
      readonly up: number;
      readonly down: number;
      readonly done: string | null;
    }[];
  }[];
}

const NO_BORDER = {
  top: '',
  'top-mid': '',
  'top-left': '',
  'top-right': '',
  bottom: '',
  'bottom-mid': '',
  'bottom-left': '',
  'bottom-right': '',
  left: '  ',
  'left-mid': '',
  mid: '',
  'mid-mid': '',
  right: '',
  'right-mid': '',
  middle: '  ',
};

const COLUMNS: readonly { readonly header: string; readonly align: 'left' | 'right' }[] = [
  { header: 'peer', align: 'left' },
  { header: 'role', align: 'left' },
  { header: 'state', align: 'left' },
  { header: 'shards', align: 'left' },
  { header: 'aggregator', align: 'left' },
  { header: 'epoch', align: 'right' },
  { header: 'round', align: 'right' },
  { header: 'iter', align: 'right' },
  { header: 'metric', align: 'right' },
  { header: 'up', align: 'right' },
  { header: 'down', align: 'right' },
];

/** A borderless table (cli-table3), indented by two spaces, no trailing blanks. */
function formatTable(rows: readonly string[][]): string {
  const table = new Table({
    head: COLUMNS.map((c) => c.header),
    colAligns: COLUMNS.map((c) => c.align),
    chars: NO_BORDER,
    style: { head: [], border: [], 'padding-left': 0, 'padding-right': 0, compact: true },
  });
  table.push(...rows);
  return `${table
    .toString()
    .split('\n')
    .map((l) => l.replace(/\s+$/, ''))
    .join('\n')}\n`;
}

function shards(held: readonly number[], count: number): string {
  if (count === 0) return '—';
  const text = held.slice(0, 8).join(',');
  return count > 8 ? `${text},… (${count})` : text;
}

/** Status queries: every QUERY_TICK_MS for the first QUERY_BURST_MS of a board, then every QUERY_EVERY_TICKS ticks in the live table. */
const QUERY_TICK_MS = 500;
const QUERY_BURST_MS = 2_000;
const QUERY_EVERY_TICKS = 8;

/** A run announced this long ago or more, without an end, is silent (ms). */
const SILENT_AFTER_MS = 10_000;

function describeState(r: StatusSnapshot['runs'][number]): string {
  const ago = `last announced ${r.lastAnnouncedSecondsAgo.toFixed(0)} s ago`;
  switch (r.state) {
    case 'open':
      return 'open';
    case 'finished': {
      const o = r.outcome;
      if (o === null) return `finished; ${ago}`;
      const result = o.reached === null ? '' : o.reached ? 'target reached, ' : 'target NOT reached, ';
      return `finished (${o.stop}): ${result}${o.iterations} iterations, ${o.committedRounds} rounds; ${ago}`;
    }
    case 'silent':
      return `silent: no announcement for ${r.lastAnnouncedSecondsAgo.toFixed(0)} s and no end announced (the launcher stopped or lost the relay)`;
    default: {
      const never: never = r.state;
      return String(never);
    }
  }
}

export function renderStatus(snap: StatusSnapshot): string {
  if (snap.runs.length === 0) return 'no run announced on this relay yet\n';
  let out = '';
  for (const r of snap.runs) {
    out += `run ${r.runId} [${describeState(r)}] ${r.method} + ${r.compressor}, launcher ${shortId(r.launcher)}\n`;
    const rows = r.peers.map((p) => [
      shortId(p.peer),
      p.isAggregator ? 'aggregator' : 'volunteer',
      p.live ? (p.done !== null ? `done (${p.done})` : 'live') : 'silent',
      shards(p.held, p.heldCount),
      shortId(p.aggregator),
      String(p.epoch),
      String(p.round),
      String(p.iteration),
      formatMetric(p.metric),
      formatBytes(p.up),
      formatBytes(p.down),
    ]);
    out += rows.length === 0 ? (r.state === 'open' ? '  (no peer reports yet)\n' : '') : formatTable(rows);
  }
  return out;
}

export async function runStatus(flags: StatusFlags, ctx: CliContext): Promise<number> {
  const relays = flags.relay ?? [];
  if (relays.length === 0) throw new UsageError('--relay', 'at least one relay address is required');
  if (flags.run !== undefined && !isRunId(flags.run)) throw new UsageError('--run', `a run id is 64 lower-case hex digits, got ${JSON.stringify(flags.run)}`);
  const { signal, dispose } = interruptSignal();
  const transport = await connectSwarm({ relays, timeoutMs: flags.connectTimeout * 1000 });
  const directory = new RunDirectory(transport).start();
  // Peers report every few seconds once steady: each new board asks them at once (a status query),
  // a few times while the gossip mesh forms, then every few seconds while the table is live.
  const boards = new Map<string, StatusBoard>();
  const asked = new Map<string, number>();
  const watch = (runId: string): void => {
    if (flags.run !== undefined && runId !== flags.run) return;
    if (boards.has(runId)) return;
    const board = new StatusBoard(transport, runId).start();
    boards.set(runId, board);
    asked.set(runId, performance.now());
    board.query();
  };
  directory.onRun((a) => watch(a.runId));
  const liveTable = !(flags.json === true || flags.once === true);
  let ticks = 0;
  const asking = setInterval(() => {
    ticks++;
    for (const [runId, board] of boards) {
      const age = performance.now() - (asked.get(runId) ?? 0);
      if (age < QUERY_BURST_MS || (liveTable && ticks % QUERY_EVERY_TICKS === 0)) board.query();
    }
  }, QUERY_TICK_MS);
  // What the relays heard before we connected (runs whose launcher may have gone).
  const remembered = new Map<string, RunRecord>();
  for (const addr of relays) {
    try {
      for (const rec of await fetchRunRegistry(transport.node, addr)) {
        if (flags.run !== undefined && rec.runId !== flags.run) continue;
        const known = remembered.get(rec.runId);
        if (known === undefined || rec.lastSeenMsAgo < known.lastSeenMsAgo) remembered.set(rec.runId, rec);
        if (rec.state !== 'finished') watch(rec.runId);
      }
    } catch {
      // An older relay, or one that is not reachable any more: live announcements still count.
    }
  }
  const fetchedAt = performance.now();
  const peersOf = (runId: string): StatusSnapshot['runs'][number]['peers'] => {
    const board = boards.get(runId);
    if (board === undefined) return [];
    const live = new Set(board.live(LIVE_WINDOW_MS).map((e) => e.peer));
    return board.all().map((e) => ({
      peer: e.peer,
      live: live.has(e.peer),
      isAggregator: e.status.isAggregator,
      aggregator: e.status.aggregator,
      epoch: e.status.epoch,
      round: e.status.round,
      iteration: e.status.iteration,
      metric: e.status.relDist,
      held: e.status.held,
      heldCount: e.status.heldCount,
      up: e.status.bytes.direct + e.status.bytes.broadcast,
      down: e.status.bytes.received,
      done: e.status.done,
    }));
  };
  const snapshot = (): StatusSnapshot => ({
    runs: [
      ...directory
        .runs()
        .filter((k) => boards.has(k.announcement.runId))
        .map((k) => {
          const a = k.announcement;
          const agoMs = performance.now() - k.lastSeen;
          return {
            runId: a.runId,
            state: a.state === 'finished' ? ('finished' as const) : agoMs > SILENT_AFTER_MS ? ('silent' as const) : ('open' as const),
            outcome: a.outcome ?? null,
            lastAnnouncedSecondsAgo: agoMs / 1000,
            method: a.manifest.method.name,
            compressor: a.manifest.compressors.device,
            launcher: a.launcher,
            peers: peersOf(a.runId),
          };
        }),
      ...[...remembered.values()]
        .filter((rec) => directory.get(rec.runId) === undefined)
        .map((rec) => {
          const agoMs = rec.lastSeenMsAgo + (performance.now() - fetchedAt);
          return {
            runId: rec.runId,
            state: rec.state === 'finished' ? ('finished' as const) : agoMs > SILENT_AFTER_MS ? ('silent' as const) : ('open' as const),
            outcome: rec.outcome,
            lastAnnouncedSecondsAgo: agoMs / 1000,
            method: rec.method,
            compressor: rec.compressor,
            launcher: rec.launcher,
            peers: peersOf(rec.runId),
          };
        }),
    ],
  });
  const sleep = (ms: number): Promise<void> =>
    new Promise((r) => {
      const t = setTimeout(r, ms);
      signal.addEventListener(
        'abort',
        () => {
          clearTimeout(t);
          r();
        },
        { once: true },
      );
    });
  try {
    if (flags.json || flags.once) {
      await sleep(flags.wait * 1000);
      const snap = snapshot();
      if (flags.json) ctx.stdout.write(`${JSON.stringify(snap, null, 2)}\n`);
      else ctx.stdout.write(renderStatus(snap));
      if (flags.run !== undefined && snap.runs.length === 0) {
        ctx.stderr.write(`masha status: run ${flags.run} was not announced within ${flags.wait} s\n`);
        return EXIT.network;
      }
      return signal.aborted ? EXIT.interrupted : EXIT.ok;
    }
    const tty = ctx.stdout.isTTY === true;
    while (!signal.aborted) {
      const text = renderStatus(snapshot());
      ctx.stdout.write(tty ? `\x1b[2J\x1b[H${new Date().toISOString()}  (Ctrl-C to quit)\n${text}` : `${new Date().toISOString()}\n${text}\n`);
      await sleep(tty ? 1000 : 5000);
    }
    return EXIT.ok;
  } finally {
    dispose();
    clearInterval(asking);
    for (const b of boards.values()) b.stop();
    directory.stop();
    await transport.close().catch(() => {});
  }
}
