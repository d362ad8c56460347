/**
 * The engine driver on real libp2p nodes in one process: a relay, three volunteer drivers and an
 * observer solve a small bilinear run; every peer and the observer end on the same digest, the
 * event logs hold one consecutive commit per round, and the status reports add up. Also: `masha
 * join` names a run that was never announced.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseManifest, runFromManifest } from '@masha/protocol';
import { runCli } from '../src/cli/program.js';
import { connectSwarm } from '../src/launcher/connect.js';
import { startRelay, type RelayNode, type SwarmTransport } from '../src/net/index.js';
import { PeerDriver } from '../src/peer/driver.js';
import { ProblemEvaluator } from '@masha/protocol/host';
import { EventLog } from '../src/peer/event-log.js';
import { decodeStatus, parseEventLine, statusTopic } from '@masha/protocol/swarm';
import { readFileSync } from 'node:fs';

const manifest = parseManifest({
  problem: { kind: 'bilinear', d: 20, M: 6, lambda: 0.1 },
  method: { name: 'masha1', gamma: 0.4 },
  compressors: { device: 'dither:p=2,s=8' },
  stop: { iterations: 1000, target: 1e-6 },
  network: { heartbeatMs: 200, leaseMs: 1500, roundDeadlineMs: 1000 },
  seed: 3,
});

describe('peer driver on libp2p', { timeout: 90_000 }, () => {
  let relay: RelayNode;
  const transports: SwarmTransport[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'masha-driver-'));

  beforeAll(async () => {
    relay = await startRelay({ gossip: { heartbeatMs: 100 } });
    for (let i = 0; i < 4; i++) transports.push(await connectSwarm({ relays: relay.multiaddrs, node: { webrtc: false, gossip: { heartbeatMs: 100 } } }));
  }, 60_000);

  afterAll(async () => {
    await Promise.allSettled(transports.map((t) => t.close()));
    await relay?.stop();
  }, 30_000);

  it('three volunteers and an observer reach the target on one lineage', async () => {
    const run = runFromManifest(manifest);
    const logs = transports.slice(0, 3).map((t) => new EventLog(join(dir, `${t.self}.jsonl`)));
    const drivers = transports
      .slice(0, 3)
      .map(
        (t, i) =>
          new PeerDriver({ transport: t, ctx: run.ctx, evaluator: new ProblemEvaluator(run.problem), frameBytes: 4096, log: logs[i], statusIntervalMs: 300 }),
      );
    const observer = new PeerDriver({
      transport: transports[3],
      ctx: run.ctx,
      evaluator: new ProblemEvaluator(run.problem),
      frameBytes: 4096,
      role: 'observer',
    });
    const reports: Uint8Array[] = [];
    const off = transports[3].subscribe(statusTopic(run.ctx.runId), (_f, data) => reports.push(data));
    observer.start();
    for (const d of drivers) d.start();
    const reasons = await Promise.all(drivers.map((d) => d.done));
    expect(reasons).toEqual(['target', 'target', 'target']);
    // The observer applies the final commit too (or fetches it).
    await observer.done;
    const digest = drivers[0].engine.digestHex;
    for (const d of [...drivers, observer]) expect(d.engine.digestHex).toBe(digest);
    expect(observer.engine.relDist()).toBeLessThanOrEqual(1e-6);
    off();
    for (const d of [...drivers, observer]) d.stop();

    // Event logs: consecutive commits, the same digest per round everywhere.
    const byRound = new Map<number, string>();
    for (const log of logs) {
      log.close();
      // Every line is valid under the events.jsonl schema the simulator's logs share.
      const events = readFileSync(log.path as string, 'utf8')
        .trim()
        .split('\n')
        .map((l) => parseEventLine(l) as { ev: string; round?: number; digest?: string });
      let last = 0;
      for (const e of events) {
        if (e.ev === 'state') last = e.round as number;
        if (e.ev !== 'commit') continue;
        expect(e.round).toBe(last + 1);
        last = e.round as number;
        const known = byRound.get(last);
        if (known !== undefined) expect(e.digest).toBe(known);
        byRound.set(last, e.digest as string);
      }
      expect(events.some((e) => e.ev === 'election')).toBe(true);
      expect(events.filter((e) => e.ev === 'done').length).toBe(1);
    }
    expect(byRound.get(drivers[0].engine.committedRound)).toBe(digest);

    // Status reports are valid and count bytes; the aggregator sent the commits, the others the uplinks.
    expect(reports.length).toBeGreaterThan(3);
    for (const r of reports) expect(decodeStatus(r).runId).toBe(run.ctx.runId);
    const statuses = drivers.map((d) => d.status());
    const agg = statuses.filter((s) => s.counters['net-commits-sent'] > 0);
    expect(agg.length).toBe(1);
    for (const s of statuses) {
      expect(s.done).toBe('target');
      expect(s.bytes.received).toBeGreaterThan(0);
      if (!s.isAggregator) {
        expect(s.counters['net-uplinks-sent']).toBeGreaterThan(0);
        expect(s.bytes.direct).toBeGreaterThan(0);
      } else expect(s.bytes.broadcast).toBeGreaterThan(0);
    }
    expect(statuses.every((s) => s.rejected === 0)).toBe(true);
  });

  it('masha join --run ID: a run that is never announced times out naming the run (exit 3)', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const io = { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) } };
    const id = 'c'.repeat(64);
    const code = await runCli(['join', '--relay', relay.multiaddrs[0], '--run', id, '--wait', '1'], io);
    expect(code).toBe(3);
    expect(err.join('')).toMatch(new RegExp(`run ${id} was not announced within 1 s`));
  });
});
