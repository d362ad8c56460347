/**
 * The poisoning attacker of the swarm tests: a real engine and Node driver in the test process,
 * joined over libp2p like any other volunteer once the run is under way, whose answers are its honest
 * evaluator's scaled by a factor (well-formed answers that pass every decoder) — except while it
 * aggregates itself (a lying aggregator is the business of signed commits and certified epochs).
 */
import { connectSwarm, PeerDriver, RunDirectory, type SwarmTransport } from '@masha/node';
import type { RunContext } from '@masha/protocol';
import type { Manifest } from '@masha/protocol';
import type { Evaluator } from '@masha/protocol/ports';
import { afterAll, beforeAll } from 'vitest';
import { TestSwarm } from './swarm-helpers.js';

export interface Attacker {
  readonly transport: SwarmTransport;
  readonly driver: PeerDriver;
  /** Answers it scaled so far. */
  lies(): number;
  stop(): Promise<void>;
}

/**
 * Hears run `runId`'s announcement (the launcher announces every second until its first commit, so
 * listen from the start), waits for round `joinAt`, builds the run from the announced manifest and
 * joins.
 */
export async function joinScalingAttacker(
  swarm: TestSwarm,
  runId: string,
  factor: number,
  joinAt: number,
  build: (manifest: Manifest) => { readonly ctx: RunContext; readonly honest: Evaluator },
): Promise<Attacker> {
  const transport = await connectSwarm({ relays: [swarm.relayAddr] });
  const directory = new RunDirectory(transport).start();
  const announcement = await directory.waitFor(
    (a) => a.runId === runId,
    240_000,
    () => new Error('the run was not announced'),
  );
  directory.stop();
  await swarm.waitFor(() => swarm.round() >= joinAt, 240_000, `round ${joinAt}`);
  const { ctx, honest } = build(announcement.manifest);
  let lies = 0;
  let driver: PeerDriver | null = null;
  const lying: Evaluator = {
    evaluate(request, complete) {
      honest.evaluate(request, (err) => {
        if (err === null && !(driver?.host.engine.isAggregator ?? false)) {
          lies++;
          // Some answers' evaluations share one buffer (a model's 'diff'): scale each buffer once.
          const seen = new Set<Float32Array | Float64Array>();
          for (const item of request.items)
            for (const e of item.evaluations) {
              if (seen.has(e.value)) continue;
              seen.add(e.value);
              for (let i = 0; i < e.value.length; i++) e.value[i] *= factor;
            }
        }
        complete(err);
      });
    },
  };
  driver = new PeerDriver({
    transport,
    ctx,
    evaluator: lying,
    frameBytes: announcement.manifest.network.frameBytes,
    role: 'volunteer',
    statusIntervalMs: 1000,
  });
  driver.start();
  const started = driver;
  return {
    transport,
    driver: started,
    lies: () => lies,
    stop: async () => {
      started.stop();
      await transport.close().catch(() => {});
    },
  };
}

/**
 * For the enclosing `describe`: a TestSwarm whose relay starts before its tests, and `joinAttacker`
 * (joinScalingAttacker on that swarm); every attacker joined and the swarm stop after them.
 */
export function attackedSwarm(): {
  readonly swarm: TestSwarm;
  readonly joinAttacker: (...args: Parameters<typeof joinScalingAttacker> extends [TestSwarm, ...infer R] ? R : never) => Promise<Attacker>;
} {
  const swarm = new TestSwarm();
  const attackers: Attacker[] = [];
  beforeAll(async () => {
    await swarm.startRelay();
  });
  afterAll(async () => {
    for (const a of attackers) await a.stop();
    await swarm.stop();
  });
  return {
    swarm,
    joinAttacker: async (...args) => {
      const a = await joinScalingAttacker(swarm, ...args);
      attackers.push(a);
      return a;
    },
  };
}
