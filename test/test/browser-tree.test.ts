/**
 * The relay trees over WebRTC between browser tabs (issue 15: "the browser transport uses the same
 * tree over WebRTC connections"). A browser-only swarm — the relay, the launcher and three Chromium
 * tabs, inside a network namespace (browser/session.ts) — runs MASHA1 on a quadratic whose commits
 * are five 16 KiB frames (d = 16,384, identity both ways), so every commit travels down the
 * striped relay trees on `/masha/tree/1.0.0` streams rather than by gossip.
 *
 * Tabs report themselves leaves of the trees (a volunteer's home uplink), so in a swarm with Node
 * volunteers they only receive. Here every member is a tab: the layout then lets the tabs relay
 * after all (layout.ts: "nobody but leaves"), so the aggregator tab uploads one copy per stripe
 * and the other tabs forward stripes to each other — interior tabs. Checked, with the transport's
 * per-link counters (`masha.links()`, debug.ts; swarm-transport.ts `treeLinks`) and the tabs'
 * records:
 * - every tab that is not the aggregator received every commit it applied as a completed
 *   relay-tree broadcast (its `tree complete` record for that round's COMMIT), and all its
 *   tree frames arrived on direct WebRTC connections (a `/webrtc` multiaddr, not limited) — none
 *   on relayed or other connections; the gossip it received on the run's broadcast topic is a
 *   small fraction of that (anchors, rosters, heartbeats);
 * - a tab that is not the aggregator forwarded tree frames to another tab over WebRTC, and that
 *   tab counted them as received from it over WebRTC;
 * - the run reaches its target, every tab ends on the launcher's digest, and every log (the tabs'
 *   and the launcher's) agrees round by round.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MSG, parseManifest } from '@masha/protocol';
import { broadcastTopic } from '@masha/protocol/swarm';
import type { LinkCounts } from '../../browser/src/debug.js';
import { browserTestsUnavailable } from './browser/chromium.js';
import { connections } from './browser/page-helpers.js';
import { startBrowserSession, type BrowserSession } from './browser/session.js';
import { TabSwarm, type Tab } from './browser/tab-swarm.js';
import { checkLineage, type LogEvent } from './swarm-helpers.js';

const OUT = fileURLToPath(new URL('../out/browser-tree/', import.meta.url));
const unavailable = browserTestsUnavailable();
if (unavailable !== null && process.env.CI) throw new Error(`browser tests cannot run under CI: ${unavailable}`);

const TABS = 3;
const D = 16_384;
const FRAME_BYTES = 16_384;
const TREE = '/masha/tree/1.0.0';

function links(tab: Tab): Promise<LinkCounts> {
  return tab.page.evaluate(() => (globalThis as unknown as { masha: { links(): LinkCounts } }).masha.links());
}

describe.skipIf(unavailable !== null)('relay trees between browser tabs over WebRTC', () => {
  let session: BrowserSession;
  let swarm: TabSwarm;

  beforeAll(async () => {
    session = await startBrowserSession(join(OUT, 'logs'));
    swarm = new TabSwarm(session, OUT);
  });

  afterAll(async () => {
    await session?.stop();
  });

  it('tabs receive every commit down the trees over WebRTC, and a tab relays to another tab', async () => {
    // All tabs in before the first round (minPeers), every shard in every round (quorum 1), a long
    // lease so that a slow tab on a loaded machine is not declared dead: one roster, one epoch.
    const manifest = parseManifest({
      problem: { kind: 'quadratic', d: D, n: TABS, seed: 1, lambda: 1 },
      method: { name: 'masha1', gamma: 0.3 },
      compressors: { device: 'identity', server: 'identity' },
      stop: { iterations: 200, target: 1e-6 },
      network: { frameBytes: FRAME_BYTES, heartbeatMs: 500, leaseMs: 8_000, roundDeadlineMs: 8_000, quorum: 1, minPeers: TABS },
      seed: 3,
    });
    const { path, runId } = swarm.writeManifest(manifest);
    const launcher = swarm.launch(path, 300);
    for (let i = 0; i < TABS; i++) await swarm.tab(runId);

    const { code, summary } = await launcher.summary();
    expect(code).toBe(0);
    expect(summary.reached).toBe(true);
    expect(summary.stop).toBe('done:target');
    expect(summary.consistent).toBe(true);
    expect(summary.elections).toBe(1);
    expect(summary.peersSeen).toBe(TABS);

    const logs = await swarm.tabLogs();
    const counts = new Map<string, LinkCounts>();
    for (const t of swarm.tabs) counts.set(t.id, await links(t));
    const aggIds = [...logs.values()]
      .flat()
      .filter((e) => e.ev === 'election')
      .map((e) => e.aggregator as string);
    const aggId = aggIds[0];
    expect(new Set(aggIds)).toEqual(new Set([aggId]));
    const agg = swarm.tabs.find((t) => t.id === aggId) as Tab;
    expect(agg).toBeDefined();
    const members = swarm.tabs.filter((t) => t !== agg);
    const name = (id: string): string => swarm.tabs.find((t) => t.id === id)?.name ?? (id === aggId ? 'agg' : id.slice(-6));
    const topic = broadcastTopic(runId);

    const report: string[] = [];
    for (const t of swarm.tabs) {
      const c = counts.get(t.id) as LinkCounts;
      const rows = c.treeLinks.map(
        (l) => `${name(l.peer)}/${l.link}: sent ${l.sent.frames} f ${l.sent.bytes} B, received ${l.received.frames} f ${l.received.bytes} B`,
      );
      report.push(
        `${t.name}${t === agg ? ' (aggregator)' : ''}: tree sent ${c.treeSent.frames} f ${c.treeSent.bytes} B, received ${c.treeReceived.frames} f ${c.treeReceived.bytes} B; ` +
          `gossip on the broadcast topic: published ${c.published[topic]?.bytes ?? 0} B, delivered ${c.delivered[topic]?.bytes ?? 0} B; ${rows.join('; ')}`,
      );
    }
    process.stderr.write(`browser-tree: ${summary.committedRounds} rounds\n  ${report.join('\n  ')}\n`);

    for (const m of members) {
      const events = logs.get(m.id) as LogEvent[];
      const c = counts.get(m.id) as LinkCounts;
      // Every commit it applied came down the trees, complete.
      const applied = events.filter((e) => e.ev === 'commit').map((e) => e.round as number);
      const byTree = new Set(
        events.filter((e) => e.ev === 'tree' && e.what === 'complete' && e.kind === MSG.COMMIT && e.origin === aggId).map((e) => e.round as number),
      );
      expect(applied.length).toBeGreaterThan(0);
      const missing = applied.filter((r) => !byTree.has(r));
      expect(missing, `${m.name}: commits not received down the trees`).toEqual([]);
      // Every tree frame it received came over a direct WebRTC connection.
      for (const l of c.treeLinks) expect(l.received.frames === 0 || l.link === 'webrtc', `${m.name} ← ${name(l.peer)} over ${l.link}`).toBe(true);
      const overWebRTC = c.treeLinks.filter((l) => l.link === 'webrtc').reduce((n, l) => n + l.received.bytes, 0);
      expect(overWebRTC).toBe(c.treeReceived.bytes);
      expect(overWebRTC).toBeGreaterThanOrEqual(applied.length * D * 4);
      // Gossip on the broadcast topic carried the small messages only.
      expect(c.delivered[topic]?.bytes ?? 0).toBeLessThan(overWebRTC / 4);
      // The connections its tree streams run on: unlimited, at a /webrtc address.
      const treeConns = (await connections(m.page)).filter((x) => x.streams.includes(TREE));
      process.stderr.write(`  ${m.name}'s tree connections: ${treeConns.map((x) => `${name(x.peer)} ${x.addr}${x.limited ? ' (limited)' : ''}`).join(', ')}\n`);
      expect(treeConns.length).toBeGreaterThan(0);
      for (const x of treeConns) expect(!x.limited && /\/webrtc\/p2p\/[^/]+$/.test(x.addr), x.addr).toBe(true);
    }

    // An interior tab: a member forwarded frames to another member over WebRTC, which received them from it.
    const forwarded: string[] = [];
    for (const m of members) {
      for (const l of (counts.get(m.id) as LinkCounts).treeLinks) {
        if (l.link !== 'webrtc' || l.sent.frames === 0 || l.peer === aggId) continue;
        const child = members.find((x) => x.id === l.peer);
        if (child === undefined) continue;
        const back = (counts.get(child.id) as LinkCounts).treeLinks.find((x) => x.peer === m.id && x.link === 'webrtc');
        expect(back?.received.frames, `${child.name} received from ${m.name}`).toBeGreaterThan(0);
        forwarded.push(`${m.name} → ${child.name}: ${l.sent.frames} frames, ${l.sent.bytes} B`);
      }
    }
    expect(forwarded.length, report.join('\n')).toBeGreaterThan(0);

    // The target, one digest everywhere, one lineage.
    for (const t of swarm.tabs) {
      const done = (logs.get(t.id) as LogEvent[]).find((e) => e.ev === 'done');
      expect(done?.digest, `${t.name}'s final digest`).toBe(summary.digest);
    }
    logs.set('launcher', swarm.launcherLog(runId));
    const lineage = checkLineage(logs);
    expect(lineage.problems).toEqual([]);
    expect(lineage.rounds.get(summary.committedRounds)).toBe(summary.digest);
  });
});
