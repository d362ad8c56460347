/**
 * A browser volunteer trains a model with Node volunteers: one Chromium tab (onnxruntime-web's
 * wasm backend in its worker, the dataset fetched from the relay) and two `masha join` processes
 * train a small ALBERT adversarially (MASHA2 + LAMB, mixed 8-bit); the run completes on one
 * lineage, the tab holds shards, answers rounds and reports its compute time, and the launcher's
 * test loss decreases.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseManifest } from '@masha/protocol';
import { browserTestsUnavailable } from './browser/chromium.js';
import { startBrowserSession, type BrowserSession } from './browser/session.js';
import { TabSwarm } from './browser/tab-swarm.js';
import { checkLineage } from './swarm-helpers.js';
import { readFileSync } from 'node:fs';

const OUT = fileURLToPath(new URL('../out/browser-model/', import.meta.url));
const unavailable = browserTestsUnavailable();
if (unavailable !== null && process.env.CI) throw new Error(`browser tests cannot run under CI: ${unavailable}`);

const ITERATIONS = 10;

describe.skipIf(unavailable !== null)('a tab trains a small ALBERT with two Node volunteers', () => {
  let session: BrowserSession;
  let swarm: TabSwarm;

  beforeAll(async () => {
    session = await startBrowserSession(join(OUT, 'logs'));
    swarm = new TabSwarm(session, OUT);
  });

  afterAll(async () => {
    await session?.stop();
  });

  it('completes the run with the tab computing on onnxruntime-web, and the test loss decreases', async () => {
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
      compressors: { device: 'int8:min=4096', server: 'int8:min=4096' },
      stop: { iterations: ITERATIONS },
      network: { heartbeatMs: 500, leaseMs: 10_000, roundDeadlineMs: 10_000, quorum: 1, minPeers: 3 },
      seed: 3,
    });
    const { path, runId } = swarm.writeManifest(manifest);
    const launcher = swarm.launch(path, 400);
    const tab = await swarm.tab(runId);
    for (let i = 0; i < 2; i++) swarm.volunteer(runId);

    const { code, summary } = await launcher.summary();
    expect(code).toBe(0);
    expect(summary.stop).toBe('done:iterations');
    expect(summary.consistent).toBe(true);
    expect(summary.peersSeen).toBe(3);

    await swarm.waitFor(async () => (await tab.live())?.self.state !== 'computing', 60_000, 'the tab to finish');
    const self = (await tab.live())!.self;
    expect(self.error).toBeNull();
    expect(['done', 'finished']).toContain(self.state);
    expect(self.shardsHeld.length).toBeGreaterThan(0);
    expect(self.roundsContributed).toBeGreaterThan(0);
    expect(self.evaluateMsPerRound).toBeGreaterThan(0);

    const logs = new Map([...swarm.peerLogs(runId), ...(await swarm.tabLogs())]);
    logs.set('launcher', swarm.launcherLog(runId));
    expect(checkLineage(logs).problems).toEqual([]);

    const model = JSON.parse(readFileSync(join(swarm.runDir(runId), 'model.json'), 'utf8')) as { curve: { iteration: number[]; testLoss: number[] } };
    const loss = model.curve.testLoss;
    expect(model.curve.iteration[model.curve.iteration.length - 1]).toBe(ITERATIONS);
    expect(loss[loss.length - 1]).toBeLessThan(loss[0]);
  });
});
