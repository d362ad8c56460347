/**
 * Two Chromium tabs and two Node volunteers solve the default run (`npm start`'s: MASHA1 + natural
 * dithering on the default bilinear game, target 1e-6), all inside a network namespace
 * (browser/session.ts), and the final iterate equals the reference runner's bitwise — as the
 * Node-only swarm test does (swarm-solve.test.ts; same reasoning: `minPeers = 4` opens the first
 * round only once every volunteer is in, `quorum = 1` commits no round with a shard missing, an
 * 8 s lease keeps a slow process or tab from being declared dead, so the swarm performs exactly
 * the reference's arithmetic).
 *
 * A tab is the aggregator: the tabs open first and elect one of themselves (the bootstrap
 * election), then the Node volunteers join (an aggregator keeps its epoch while it lives). Checked:
 * - the two tabs are linked directly over WebRTC (an unlimited connection at a `/webrtc` address),
 *   and the other tab's uplinks to the aggregator tab flow over that link (its uplink stream is
 *   open on it; the uplink protocol never runs on relayed connections);
 * - `masha status --json` and the launcher's summary see the tabs as volunteers (status reports);
 * - the event logs of tabs (their records), Node volunteers and the launcher agree round by round;
 * - both tabs contributed every round from the first (quorum 1) and hold shards.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseManifest, runFromManifest, runReference } from '@masha/protocol';
import { DEFAULT_RUN } from '@masha/node';
import { parseEventLine } from '@masha/protocol/swarm';
import { browserTestsUnavailable } from './browser/chromium.js';
import { startBrowserSession, type BrowserSession } from './browser/session.js';
import { connections } from './browser/page-helpers.js';
import { TabSwarm, type Tab } from './browser/tab-swarm.js';
import { checkLineage } from './swarm-helpers.js';
import { readFileSync } from 'node:fs';

const OUT = fileURLToPath(new URL('../out/browser-solve/', import.meta.url));
const unavailable = browserTestsUnavailable();
if (unavailable !== null && process.env.CI) throw new Error(`browser tests cannot run under CI: ${unavailable}`);

const PEERS = 4;
const UPLINK = '/masha/uplink/1.0.0';

describe.skipIf(unavailable !== null)('two tabs and two Node volunteers solve the default run', () => {
  let session: BrowserSession;
  let swarm: TabSwarm;

  beforeAll(async () => {
    session = await startBrowserSession(join(OUT, 'logs'));
    swarm = new TabSwarm(session, OUT);
  });

  afterAll(async () => {
    await session?.stop();
  });

  it("reaches the target at bitwise the reference runner's iterate, with a tab aggregating over WebRTC", async () => {
    const manifest = parseManifest({
      ...DEFAULT_RUN,
      network: { heartbeatMs: 500, leaseMs: 8_000, roundDeadlineMs: 8_000, quorum: 1, minPeers: PEERS },
    });
    const { path, runId } = swarm.writeManifest(manifest);
    const launcher = swarm.launch(path, 300);
    const tabs = [await swarm.tab(runId), await swarm.tab(runId)];

    // The tabs elect one of themselves (nobody else is there yet).
    let agg: Tab | undefined;
    await swarm.waitFor(
      async () => {
        for (const t of tabs) if ((await t.live())?.self.isAggregator === true) agg = t;
        return agg !== undefined;
      },
      90_000,
      'a tab to become the aggregator',
    );
    const aggTab = agg as Tab;
    const other = tabs.find((t) => t !== aggTab) as Tab;
    for (let i = 0; i < PEERS - tabs.length; i++) swarm.volunteer(runId);

    // Mid-run: every volunteer — tabs included — is in `masha status`, following one aggregator (the tab).
    await swarm.waitFor(async () => ((await other.live())?.self.round ?? 0) >= 20, 180_000, 'round 20 on the other tab');
    const status = session.ns.masha('status', ['status', '--relay', session.relayTcp, '--run', runId, '--json', '--wait', '3'], {
      stdout: 'pipe',
      stderr: 'ignore',
    });
    let statusText = '';
    status.onStdoutLine((l) => {
      statusText += `${l}\n`;
    });
    expect((await status.exited).code).toBe(0);
    const snap = JSON.parse(statusText) as {
      runs: { runId: string; peers: { peer: string; isAggregator: boolean; aggregator: string | null; heldCount: number }[] }[];
    };
    const peers = snap.runs.find((r) => r.runId === runId)?.peers ?? [];
    expect(peers.length).toBe(PEERS);
    for (const t of tabs) expect(peers.map((p) => p.peer)).toContain(t.id);
    expect(peers.filter((p) => p.isAggregator).map((p) => p.peer)).toEqual([aggTab.id]);
    for (const p of peers) expect(p.aggregator).toBe(aggTab.id);
    expect(peers.reduce((n, p) => n + p.heldCount, 0)).toBe(10);

    // The tabs' link: direct WebRTC (not relayed), carrying the other tab's uplink stream to the aggregator.
    const links = (await connections(other.page, aggTab.id)).filter((c) => !c.limited && /\/webrtc\/p2p\/[^/]+$/.test(c.addr));
    expect(links.length, JSON.stringify(await connections(other.page, aggTab.id))).toBeGreaterThan(0);
    expect(
      links.some((c) => c.streams.includes(UPLINK)),
      JSON.stringify(links),
    ).toBe(true);
    // No uplink stream on any relayed connection.
    for (const c of await connections(other.page)) if (c.limited) expect(c.streams).not.toContain(UPLINK);
    const otherSelf = (await other.live())!.self;
    expect(otherSelf.uplinksSent).toBeGreaterThan(0);
    expect(otherSelf.roundsContributed).toBeGreaterThan(0);

    const { code, summary } = await launcher.summary();
    expect(code).toBe(0);
    expect(summary.reached).toBe(true);
    expect(summary.stop).toBe('done:target');
    expect(summary.peersSeen).toBe(PEERS);
    expect(summary.elections).toBe(1);
    expect(summary.abortedRounds).toBe(0);
    expect(summary.consistent).toBe(true);
    expect(summary.rejectedFrames).toBe(0);
    // The tabs are in the summary's peers, the aggregator tab sent the commits.
    const figures = summary.swarm?.peers ?? [];
    expect(figures.find((p) => p.peer === aggTab.id)?.commitsSent).toBeGreaterThan(0);
    expect(figures.find((p) => p.peer === other.id)?.uplinksSent).toBeGreaterThan(0);

    // Bitwise the reference runner's iterate.
    const run = runFromManifest(manifest);
    const ref = runReference({ problem: run.problem, method: run.method, iterations: manifest.stop.iterations, target: manifest.stop.target ?? undefined });
    expect(ref.reached).toBe(true);
    expect(summary.iterations).toBe(ref.iterations);
    const { z } = JSON.parse(readFileSync(join(swarm.runDir(runId), 'z.json'), 'utf8')) as { z: number[] };
    expect(z.length).toBe(ref.z.length);
    let maxDiff = 0;
    for (let i = 0; i < z.length; i++) maxDiff = Math.max(maxDiff, Math.abs(z[i] - ref.z[i]));
    expect(maxDiff).toBe(0);

    // Every tab finished on the launcher's digest and contributed in every round (quorum 1).
    for (const t of tabs) {
      await swarm.waitFor(async () => (await t.live())?.self.state !== 'computing', 30_000, `${t.name} to finish`);
      const self = (await t.live())!.self;
      expect(['done', 'finished']).toContain(self.state);
      expect(self.shardsHeld.length).toBeGreaterThan(0);
      expect(self.roundsContributed).toBe(summary.committedRounds);
    }
    const tabLogs = await swarm.tabLogs();
    // A tab's records are events.jsonl lines of the schema Node peers and the simulator write.
    for (const events of tabLogs.values()) for (const e of events) parseEventLine(JSON.stringify(e));
    const logs = new Map([...swarm.peerLogs(runId), ...tabLogs]);
    expect(logs.size).toBe(PEERS);
    for (const t of tabs) {
      const done = logs.get(t.id)?.find((e) => e.ev === 'done');
      expect(done?.digest).toBe(summary.digest);
    }
    logs.set('launcher', swarm.launcherLog(runId));
    const lineage = checkLineage(logs);
    expect(lineage.problems).toEqual([]);
    expect(lineage.rounds.get(summary.committedRounds)).toBe(summary.digest);
  });
});
