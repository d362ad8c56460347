// A commit's signature check is cached per body object (the simulator shares body objects among
// thousands of recipients). The cache must count only under the header the signature was checked
// with: the same body re-sent under another (epoch, round) is a different statement and is checked
// afresh — and refused, since the aggregator never signed it.
import { describe, expect, it } from 'vitest';
import { parseManifest, runFromManifest } from './internals.js';
import { TestSwarm } from './engine-driver.js';
import { MSG } from '../src/engine/messages.js';
import type { EngineMessage } from '../src/engine/types.js';

describe('verified-commit cache', () => {
  it('a signed body replayed under another round is verified afresh and refused; under its own header it still passes', () => {
    const manifest = parseManifest({
      problem: { kind: 'bilinear', d: 8, M: 4, seed: 3 },
      method: { name: 'masha1', gamma: 0.5 },
      compressors: { device: 'randk:0.25' },
      stop: { iterations: 1_000_000 },
      network: { heartbeatMs: 50, leaseMs: 200, roundDeadlineMs: 100, minPeers: 1 },
      seed: 5,
    });
    let captured: { to: string; msg: EngineMessage } | null = null;
    const swarm = new TestSwarm(runFromManifest(manifest), {
      onDeliver: (node, msg) => {
        if (msg.kind === MSG.COMMIT) captured = { to: node.id, msg };
      },
    });
    for (const id of ['p1', 'p2', 'p3']) swarm.add(id, 0);
    swarm.run(600);
    expect(captured).not.toBeNull();
    const { to, msg } = captured!;
    const node = swarm.nodes.get(to)!;
    expect(node.peer.committedRound).toBeGreaterThan(3);
    const bad = () => node.peer.counters['bad-signature'] ?? 0;
    const deliver = (m: EngineMessage) => node.peer.handle({ type: 'message', from: m.sender, message: m }, swarm.now);
    // Under its own header: verified (and now cached for this body object).
    const before = bad();
    deliver(msg);
    expect(bad()).toBe(before);
    // The same body object under other rounds: a statement nobody signed.
    deliver({ ...msg, round: msg.round + 1 });
    expect(bad()).toBe(before + 1);
    deliver({ ...msg, round: msg.round + 1000 });
    expect(bad()).toBe(before + 2);
    // And the cache still serves the original header.
    deliver(msg);
    expect(bad()).toBe(before + 2);
  });
});
