/**
 * The relay trees over WebRTC in the browser (issue 15: "the browser transport uses the same tree
 * over WebRTC connections"). Runs inside a network namespace with the relay, the launcher and
 * Chromium (browser/session.ts); MASHA1 on a quadratic whose commits are five 16 KiB frames
 * (d = 16,384, identity both ways), so every commit travels down the striped relay trees on
 * `/masha/tree/1.0.0` streams rather than by gossip. Checked with the transport's per-peer,
 * per-link counters (`masha.links()`, debug.ts; swarm-transport.ts `treeLinks`, `linkKindOf`) and
 * the tabs' records.
 *
 * 1. A swarm of tabs only (three tabs). Tabs report themselves leaves of the trees (a volunteer's
 *    home uplink), but when every member is a leaf the layout lets them relay after all
 *    (layout.ts: "nobody but leaves"), rather than the aggregator tab uploading a copy per tab. So
 *    a tab that is not the aggregator is interior: it forwards the tree frames to another tab over
 *    WebRTC, and that tab counts the same frames as received from it over WebRTC.
 * 2. Two Node volunteers and two tabs: the Node peers relay, the tabs are leaves — a tab receives
 *    from the Node peers over WebRTC and forwards nothing to other volunteers (it may serve the
 *    launcher, an observer that pulls each commit from a "foster" member).
 *
 * In both: every tab that is not the aggregator applied every commit as a completed relay-tree
 * broadcast from the aggregator (its `tree complete` record for that round's COMMIT); all its
 * tree frames arrived on direct WebRTC connections (unlimited, at a `/webrtc` multiaddr) — none on
 * relayed or other connections — at least a commit's worth of bytes per applied round; the gossip
 * it received on the run's broadcast topic is a small fraction of that (anchors, rosters,
 * heartbeats); the run reaches its target, every volunteer ends on the launcher's digest, and
 * every log agrees round by round (one lineage).
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MSG, parseManifest, type Manifest } from '@masha/protocol';
import { broadcastTopic } from '@masha/protocol/swarm';
import type { LinkCounts } from '../../browser/src/debug.js';
import { browserTestsUnavailable } from './browser/chromium.js';
import { connections } from './browser/page-helpers.js';
import { startBrowserSession, type BrowserSession } from './browser/session.js';
import { TabSwarm, type Tab } from './browser/tab-swarm.js';
import { checkLineage, type Launcher, type LogEvent } from './swarm-helpers.js';

const OUT = fileURLToPath(new URL('../out/browser-tree/', import.meta.url));
const unavailable = browserTestsUnavailable();
if (unavailable !== null && process.env.CI) throw new Error(`browser tests cannot run under CI: ${unavailable}`);

const TABS = 3;
const D = 16_384;
const FRAME_BYTES = 16_384;
const TREE = '/masha/tree/1.0.0';
/** The mixed swarm: Node volunteers (relays) and tabs (leaves). */
const NODES = 2;
const MIXED_TABS = 2;

function links(tab: Tab): Promise<LinkCounts> {
  return tab.page.evaluate(() => (globalThis as unknown as { masha: { links(): LinkCounts } }).masha.links());
}

/** MASHA1 on a quadratic with 5-frame commits; all `peers` in before the first round, every shard every round. */
function manifestFor(peers: number): Manifest {
  // minPeers: all volunteers in before the first round; quorum 1: every shard every round; a
  // long lease, so that a slow tab on a loaded machine is not declared dead: one roster, one epoch.
  return parseManifest({
    problem: { kind: 'quadratic', d: D, n: peers, seed: 1, lambda: 1 },
    method: { name: 'masha1', gamma: 0.3 },
    compressors: { device: 'identity', server: 'identity' },
    stop: { iterations: 200, target: 1e-6 },
    network: { frameBytes: FRAME_BYTES, heartbeatMs: 500, leaseMs: 8_000, roundDeadlineMs: 8_000, quorum: 1, minPeers: peers },
    seed: 3,
  });
}

interface Outcome {
  readonly aggId: string;
  /** Event logs of every volunteer (tabs and Node peers) by peer id. */
  readonly logs: Map<string, LogEvent[]>;
  /** Each open tab's transport counters by peer id. */
  readonly counts: Map<string, LinkCounts>;
  readonly name: (id: string) => string;
  readonly report: string;
}

/** Runs a launched run to its end, checks the summary, and collects the logs and counters. */
async function finish(swarm: TabSwarm, runId: string, launcher: Launcher, peers: number): Promise<Outcome> {
  const { code, summary } = await launcher.summary();
  expect(code).toBe(0);
  expect(summary.reached).toBe(true);
  expect(summary.stop).toBe('done:target');
  expect(summary.consistent).toBe(true);
  expect(summary.elections).toBe(1);
  expect(summary.peersSeen).toBe(peers);

  const logs = new Map([...swarm.peerLogs(runId), ...(await swarm.tabLogs())]);
  expect(logs.size).toBe(peers);
  const counts = new Map<string, LinkCounts>();
  for (const t of swarm.tabs) counts.set(t.id, await links(t));
  // One aggregator: the last one each log names (a bootstrap claim may be superseded within epoch 1).
  const aggIds = [...logs.values(), swarm.launcherLog(runId)].map((events) => events.filter((e) => e.ev === 'election').at(-1)?.aggregator as string);
  const aggId = aggIds[0];
  expect(new Set(aggIds)).toEqual(new Set([aggId]));
  const names = new Map<string, string>([...swarm.tabs.map((t) => [t.id, t.name] as const), ...swarm.volunteers.map((v) => [v.peerId ?? '', v.name] as const)]);
  const name = (id: string): string => `${names.get(id) ?? `launcher ${id.slice(-6)}`}${id === aggId ? ' (aggregator)' : ''}`;
  const topic = broadcastTopic(runId);
  const rows: string[] = [];
  for (const t of swarm.tabs) {
    const c = counts.get(t.id) as LinkCounts;
    const per = c.treeLinks.map(
      (l) => `${name(l.peer)}/${l.link}: sent ${l.sent.frames} f ${l.sent.bytes} B, received ${l.received.frames} f ${l.received.bytes} B`,
    );
    rows.push(
      `${name(t.id)}: tree sent ${c.treeSent.frames} f ${c.treeSent.bytes} B, received ${c.treeReceived.frames} f ${c.treeReceived.bytes} B; ` +
        `gossip on the broadcast topic: published ${c.published[topic]?.bytes ?? 0} B, delivered ${c.delivered[topic]?.bytes ?? 0} B; ${per.join('; ')}`,
    );
  }
  const report = `${summary.committedRounds} rounds\n  ${rows.join('\n  ')}`;

  // The target, one digest everywhere, one lineage.
  for (const [id, events] of logs) {
    const done = events.find((e) => e.ev === 'done');
    expect(done?.digest, `${name(id)}'s final digest`).toBe(summary.digest);
  }
  const all = new Map(logs);
  all.set('launcher', swarm.launcherLog(runId));
  const lineage = checkLineage(all);
  expect(lineage.problems).toEqual([]);
  expect(lineage.rounds.get(summary.committedRounds)).toBe(summary.digest);
  return { aggId, logs, counts, name, report };
}

/**
 * A tab that is not the aggregator received every commit it applied down the trees (a completed
 * relay-tree COMMIT from the aggregator), every tree frame over a direct WebRTC connection, and
 * only small messages by gossip on the broadcast topic. Returns the bytes it received over WebRTC.
 */
async function checkReceivesByTree(tab: Tab, o: Outcome, runId: string): Promise<number> {
  const events = o.logs.get(tab.id) as LogEvent[];
  const c = o.counts.get(tab.id) as LinkCounts;
  const applied = events.filter((e) => e.ev === 'commit').map((e) => e.round as number);
  const byTree = new Set(
    events.filter((e) => e.ev === 'tree' && e.what === 'complete' && e.kind === MSG.COMMIT && e.origin === o.aggId).map((e) => e.round as number),
  );
  expect(applied.length).toBeGreaterThan(0);
  const missing = applied.filter((r) => !byTree.has(r));
  expect(missing, `${tab.name}: commits not received down the trees`).toEqual([]);
  // Every tree frame it received came over a direct WebRTC connection.
  for (const l of c.treeLinks) expect(l.received.frames === 0 || l.link === 'webrtc', `${tab.name} ← ${o.name(l.peer)} over ${l.link}`).toBe(true);
  const overWebRTC = c.treeLinks.filter((l) => l.link === 'webrtc').reduce((n, l) => n + l.received.bytes, 0);
  expect(overWebRTC).toBe(c.treeReceived.bytes);
  expect(overWebRTC).toBeGreaterThanOrEqual(applied.length * D * 4);
  // Gossip on the broadcast topic carried the small messages only (anchors, rosters, heartbeats).
  expect(c.delivered[broadcastTopic(runId)]?.bytes ?? 0).toBeLessThan(overWebRTC / 4);
  // The connections its tree streams run on: unlimited, at a /webrtc address.
  const treeConns = (await connections(tab.page)).filter((x) => x.streams.includes(TREE));
  process.stderr.write(`  ${tab.name}'s tree connections: ${treeConns.map((x) => `${o.name(x.peer)} ${x.addr}${x.limited ? ' (limited)' : ''}`).join(', ')}\n`);
  expect(treeConns.length).toBeGreaterThan(0);
  for (const x of treeConns) expect(!x.limited && /\/webrtc\/p2p\/[^/]+$/.test(x.addr), x.addr).toBe(true);
  return overWebRTC;
}

describe.skipIf(unavailable !== null)('relay trees between browser tabs over WebRTC', () => {
  let session: BrowserSession;

  beforeAll(async () => {
    session = await startBrowserSession(join(OUT, 'logs'));
  });

  afterAll(async () => {
    await session?.stop();
  });

  it('a swarm of tabs only: tabs receive every commit down the trees over WebRTC, and a tab relays to another tab', async () => {
    const swarm = new TabSwarm(session, join(OUT, 'tabs'));
    const { path, runId } = swarm.writeManifest(manifestFor(TABS));
    const launcher = swarm.launch(path, 300);
    for (let i = 0; i < TABS; i++) await swarm.tab(runId);
    const o = await finish(swarm, runId, launcher, TABS);
    process.stderr.write(`browser-tree (tabs only): ${o.report}\n`);
    expect(o.counts.has(o.aggId)).toBe(true);
    const members = swarm.tabs.filter((t) => t.id !== o.aggId);
    for (const m of members) await checkReceivesByTree(m, o, runId);

    // An interior tab: a member forwarded frames to another member over WebRTC, which received them from it.
    const forwarded: string[] = [];
    for (const m of members) {
      for (const l of (o.counts.get(m.id) as LinkCounts).treeLinks) {
        const child = members.find((x) => x.id === l.peer);
        if (l.link !== 'webrtc' || l.sent.frames === 0 || child === undefined) continue;
        const back = (o.counts.get(child.id) as LinkCounts).treeLinks.find((x) => x.peer === m.id && x.link === 'webrtc');
        expect(back?.received.frames, `${child.name} received from ${m.name}`).toBe(l.sent.frames);
        forwarded.push(`${m.name} → ${child.name}: ${l.sent.frames} frames, ${l.sent.bytes} B`);
      }
    }
    expect(forwarded.length, o.report).toBeGreaterThan(0);
    process.stderr.write(`  forwarded tab to tab: ${forwarded.join(', ')}\n`);
    for (const t of swarm.tabs) await t.close();
  });

  it('with Node volunteers, tabs are leaves: they receive every commit down the trees over WebRTC and forward nothing to members', async () => {
    const swarm = new TabSwarm(session, join(OUT, 'mixed'));
    const peers = NODES + MIXED_TABS;
    const { path, runId } = swarm.writeManifest(manifestFor(peers));
    const launcher = swarm.launch(path, 300);
    for (let i = 0; i < NODES; i++) swarm.volunteer(runId);
    for (let i = 0; i < MIXED_TABS; i++) await swarm.tab(runId);
    const o = await finish(swarm, runId, launcher, peers);
    process.stderr.write(`browser-tree (tabs and Node volunteers): ${o.report}\n`);
    const nodeIds = new Set(swarm.volunteers.map((v) => v.peerId ?? ''));
    const members = new Set([...o.logs.keys()].filter((id) => id !== o.aggId));
    let fromNodes = 0;
    for (const t of swarm.tabs) {
      const c = o.counts.get(t.id) as LinkCounts;
      if (t.id !== o.aggId) {
        await checkReceivesByTree(t, o, runId);
        // Leaves: nothing forwarded to another volunteer (an observer, the launcher, may pull from any member).
        for (const l of c.treeLinks) if (members.has(l.peer)) expect(l.sent.frames, `${t.name} → ${o.name(l.peer)}`).toBe(0);
      }
      fromNodes += c.treeLinks.filter((l) => nodeIds.has(l.peer) && l.link === 'webrtc').reduce((n, l) => n + l.received.frames, 0);
    }
    // Node volunteers relay to the tabs over WebRTC.
    expect(fromNodes).toBeGreaterThan(0);
    for (const t of swarm.tabs) await t.close();
  });
});
