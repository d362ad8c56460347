/**
 * Collaborative adversarial training on a real swarm (seed §5.2 on Masha): three Node volunteers
 * train a small ALBERT (onnxruntime-node, the spam/ham task, FreeLB K = 2) with MASHA2 + LAMB and
 * mixed 8-bit compression; one volunteer holding shards is killed (SIGKILL) mid-run, its shards move
 * to the others, the run completes, and the launcher's test loss keeps decreasing after the kill.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseManifest } from '@masha/protocol';
import { checkLineage, TestSwarm, type Volunteer } from './swarm-helpers.js';

const ITERATIONS = 24;
const KILL_AT_ROUND = 8;

interface ModelJson {
  curve: { iteration: number[]; seconds: number[]; testLoss: number[]; testAccuracy: number[] };
  final: { loss: number; accuracy: number; robustAccuracy: number | null } | null;
  seconds: { perRound: { mean: number; count: number }; perIteration: number | null };
  bytes: { uplink: number; downlink: number };
}

describe('a small ALBERT trained by three Node volunteers, one killed mid-run', () => {
  const swarm = new TestSwarm();

  beforeAll(async () => {
    await swarm.startRelay();
  });

  afterAll(async () => {
    await swarm.stop();
  });

  it('keeps training after the kill: the run completes and the test loss goes on decreasing', async () => {
    const manifest = parseManifest({
      problem: {
        kind: 'model',
        task: {
          objective: 'classify',
          shards: 3,
          batch: 8,
          seed: 1,
          model: { embed: 32, hidden: 64, heads: 2, ffn: 128, layers: 2, seqLen: 32 },
          adversarial: { epsilon: 0.1, steps: 2, stepSize: 0.05 },
        },
      },
      method: { name: 'masha2', optimizer: { name: 'lamb', lr: 0.005 } },
      compressors: { device: 'int8:min=4096' },
      stop: { iterations: ITERATIONS },
      network: { heartbeatMs: 500, leaseMs: 4_000, roundDeadlineMs: 3_000, quorum: 1, minPeers: 2 },
      seed: 3,
    });
    const { path, runId } = swarm.writeManifest(manifest);
    for (let i = 0; i < 3; i++) swarm.volunteer(runId);
    const launcher = swarm.launch(path, 400);

    let victim: Volunteer | undefined;
    await swarm.waitFor(
      () => {
        victim = swarm.volunteers.find((v) => v.status !== null && !v.status.isAggregator && v.status.heldCount > 0 && v.status.round >= KILL_AT_ROUND);
        return victim !== undefined;
      },
      300_000,
      `a volunteer holding shards at round ${KILL_AT_ROUND}`,
    );
    const dead = victim as Volunteer;
    const deadId = dead.peerId as string;
    const killRound = dead.status?.round ?? 0;
    dead.child.signal('SIGKILL');
    await dead.child.exited;

    const { code, summary } = await launcher.summary();
    expect(code).toBe(0);
    expect(summary.stop).toBe('done:iterations');
    expect(summary.iterations).toBe(ITERATIONS);
    expect(summary.consistent).toBe(true);

    const others = swarm.volunteers.filter((v) => v !== dead);
    await Promise.all(others.map((v) => v.child.exited));
    for (const v of others) {
      expect(v.exit?.reason).toBe('done:iterations');
      expect(v.exit?.status.digest).toBe(summary.digest);
    }
    // Honest answers are never clipped by the running bounds (a model run's default) — warm-up ones
    // (each phase's first rounds at each aggregator), judged against the other shards, included.
    const total = (name: string): number => others.reduce((s, v) => s + (v.exit?.status.counters[name] ?? 0), 0);
    console.log(`warm-up answers judged ${total('warmup-judged')}, clipped ${total('clipped')}`);
    expect(total('warmup-judged')).toBeGreaterThan(0);
    expect(total('clipped')).toBe(0);
    // Where each volunteer computed (issue 17, `masha join` defaults to --device auto): the status
    // reports and the one `device` line of each log agree (on a machine without a usable GPU: the CPU).
    for (const v of others) {
      const device = v.exit?.status.device;
      expect(device?.requested).toBe('auto');
      expect(device?.gpu).toBe(device?.provider !== 'cpu');
      const lines = v.lines
        .map((l) => JSON.parse(l) as { event?: string; provider?: string; probes?: { provider: string }[] })
        .filter((m) => m.event === 'device');
      expect(lines).toHaveLength(1);
      expect(lines[0].provider).toBe(device?.provider);
      expect(lines[0].probes?.map((p) => p.provider)).toEqual(['cuda', 'webgpu']);
    }
    for (const [peer, events] of swarm.peerLogs(runId)) {
      const device = events.filter((e) => e.ev === 'device');
      expect(device, peer).toHaveLength(1);
      expect(device[0].peer).toBe(peer);
    }
    const logs = new Map([...swarm.peerLogs(runId)].filter(([peer]) => peer !== deadId));
    logs.set('launcher', swarm.launcherLog(runId));
    expect(checkLineage(logs).problems).toEqual([]);

    // The launcher's probe (clean loss on the first test examples) decreases over the run, and after the kill.
    const model = swarm.readJson<ModelJson>(runId, 'model.json');
    const { iteration, testLoss } = model.curve;
    expect(iteration[0]).toBe(0);
    expect(iteration[iteration.length - 1]).toBe(ITERATIONS);
    const first = testLoss[0];
    const last = testLoss[testLoss.length - 1];
    expect(last).toBeLessThan(first);
    // The iteration at the kill is at most the round it was killed at; the loss after it still falls.
    const atKill = testLoss[iteration.findIndex((it) => it >= killRound - 2)];
    expect(last).toBeLessThan(atKill);
    expect(model.final).not.toBeNull();
    expect(model.final?.robustAccuracy).not.toBeNull();
    expect(model.seconds.perIteration).toBeGreaterThan(0);
    expect(model.bytes.uplink).toBeGreaterThan(0);
  }, 420_000);
});
