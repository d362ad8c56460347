/**
 * The default run: what `npm start` runs and what `masha-sim manifest init` writes when given no
 * flags — MASHA1 with natural dithering (p = 2, s = 8 levels) on the default bilinear problem
 * (d = 100, M = 10 shards, λ = 0.01), until the relative squared distance to the solution is 1e-6.
 *
 * Stepsize: γ = 0.4. The theory stepsize of this configuration is γ = 0.111 (SPEC §3.1), which the
 * simulator shows needs ~4,500 rounds to the target; the bound is conservative by a wide margin
 * (γ = 0.4 reaches the target in ~460 rounds for seeds 0–3 in `masha-sim run`, γ ≈ 0.9 diverges),
 * and a demo on one machine should finish in well under a minute. Timing: heartbeats every
 * 500 ms, a 2 s lease, 1 s round deadline — generous for loopback, so that a loaded machine does
 * not cause spurious elections.
 */
import { parseManifest, type Manifest, type ManifestInput } from './schema.js';

/** The default run's tuned stepsize, for MASHA1 on a generated bilinear problem. */
export const DEFAULT_RUN_GAMMA = 0.4;

export const DEFAULT_RUN = {
  problem: { kind: 'bilinear' },
  method: { name: 'masha1', gamma: DEFAULT_RUN_GAMMA },
  compressors: { device: 'dither:p=2,s=8', server: 'identity' },
  stop: { iterations: 5_000, target: 1e-6 },
  network: { heartbeatMs: 500, leaseMs: 2_000, roundDeadlineMs: 1_000, quorum: 0.5, minPeers: 1 },
  seed: 0,
} as const satisfies ManifestInput;

export function defaultManifest(): Manifest {
  return parseManifest(DEFAULT_RUN);
}

/**
 * The default adversarial training run (`npm start -- --task adversarial`, seed §5.2 on Masha):
 * the tiny ALBERT (1,459,074 parameters) on spam/ham classification with FreeLB (ε = 0.1, K = 2),
 * 4 shards of batch 16, MASHA2 + LAMB (lr 5e-3 after a 10-step warm-up), mixed 8-bit compression
 * (tensors of ≥ 2^16 elements) on the uplinks and the broadcast, 150 iterations. Timing for CPU
 * volunteers on one machine: a round computes two FreeLB evaluations per shard (~0.3–1 s each on
 * a shared 2-core machine), so the lease and the deadline are long.
 */
export const ADVERSARIAL_RUN = {
  problem: {
    kind: 'model',
    task: { objective: 'classify', shards: 4, batch: 16, seed: 0, adversarial: { epsilon: 0.1, steps: 2, stepSize: 0.05 } },
  },
  method: { name: 'masha2', optimizer: { name: 'lamb', lr: 5e-3, warmup: 10 } },
  compressors: { device: 'int8:min=65536', server: 'int8:min=65536' },
  stop: { iterations: 150 },
  network: { heartbeatMs: 1_000, leaseMs: 20_000, roundDeadlineMs: 20_000, quorum: 1, minPeers: 1 },
  seed: 0,
} as const satisfies ManifestInput;

export function adversarialManifest(): Manifest {
  return parseManifest(ADVERSARIAL_RUN);
}
