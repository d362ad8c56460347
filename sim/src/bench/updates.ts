import { parseManifest, type Manifest } from '@masha/protocol';
import { simulate, type SimulateResult } from '../run/simulate.js';
import { progress, resultRow, type BenchResult, type Suite } from './harness.js';

/**
 * What the defences of issue 14 cost (engine/guard.ts), on the default run (MASHA1 + natural
 * dithering, bilinear d = 100, M = 10, 10 peers, target 1e-6) in the simulator, against the same run
 * without them (same seeds):
 *
 * - `updates/audit-pP/evaluations-per-iteration`: operator evaluations of the whole swarm per
 *   iteration with audits at probability P (each audit is one more holder computing one shard),
 *   baseline P = 0; `…/uplink-bytes-per-iteration`: uplink wire bytes per iteration (audit requests
 *   and the auditors' answers), baseline P = 0; `…/sim-seconds-to-target`: simulated time to the
 *   target (an audited round waits for its auditor), baseline P = 0. P ∈ {0.01, 0.05, 0.2}.
 * - `updates/bounds/cpu-seconds`: the simulation's CPU seconds with the Lipschitz bounds on (each
 *   answer decoded once more and its norm taken) against bounds off.
 */

function manifest(trust: { audit: number; bounds: 'lipschitz' | 'off' }): Manifest {
  return parseManifest({ problem: { kind: 'bilinear' }, method: { name: 'masha1' }, stop: { target: 1e-6, iterations: 5000 }, seed: 0, updates: trust });
}

interface Costs {
  readonly result: SimulateResult;
  readonly evaluations: number;
}

function run(trust: { audit: number; bounds: 'lipschitz' | 'off' }): Costs {
  let evaluations = 0;
  const result = simulate({
    manifest: manifest(trust),
    onAction: (_id, a) => {
      if (a.type === 'evaluate') for (const item of a.request.items) evaluations += item.evaluations.length;
    },
  });
  if (!result.summary.reached) throw new Error(`updates bench: the run with ${JSON.stringify(trust)} did not reach its target`);
  return { result, evaluations };
}

export const updatesSuite: Suite = {
  name: 'updates',
  async run(include) {
    const out: BenchResult[] = [];
    const ps = [0.01, 0.05, 0.2];
    const wanted = ps.filter((p) => include(`updates/audit-p${p}`));
    const boundsName = 'updates/bounds/cpu-seconds';
    if (wanted.length === 0 && !include(boundsName)) return out;
    progress('updates: baseline run (no audits)');
    const base = run({ audit: 0, bounds: 'lipschitz' });
    const it0 = base.result.summary.iterations;
    const baseEval = { name: 'audit p = 0', value: base.evaluations / it0 };
    const baseBytes = { name: 'audit p = 0', value: base.result.summary.uplinkBytes / it0 };
    const baseTime = { name: 'audit p = 0', value: base.result.summary.simSeconds };
    for (const p of wanted) {
      progress(`updates: audits at p = ${p}`);
      const r = run({ audit: p, bounds: 'lipschitz' });
      const it = r.result.summary.iterations;
      const audits = r.result.counters.get('audit-requested') ?? 0;
      progress(`updates: p = ${p}: ${audits} audits in ${r.result.summary.committedRounds} rounds (${it} iterations; ${it0} without)`);
      out.push(resultRow(`updates/audit-p${p}/evaluations-per-iteration`, r.evaluations / it, 'evaluations', baseEval));
      out.push(resultRow(`updates/audit-p${p}/uplink-bytes-per-iteration`, r.result.summary.uplinkBytes / it, 'bytes', baseBytes));
      out.push(resultRow(`updates/audit-p${p}/sim-seconds-to-target`, r.result.summary.simSeconds, 's', baseTime));
    }
    if (include(boundsName)) {
      progress('updates: bounds off against on (CPU seconds of the simulation, best of 3)');
      let on = Infinity;
      let off = Infinity;
      for (let i = 0; i < 3; i++) {
        off = Math.min(off, run({ audit: 0, bounds: 'off' }).result.timing.runCpuSeconds);
        on = Math.min(on, run({ audit: 0, bounds: 'lipschitz' }).result.timing.runCpuSeconds);
      }
      out.push(resultRow(boundsName, on, 's', { name: 'bounds off', value: off }));
    }
    return out;
  },
};
