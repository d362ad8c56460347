/**
 * MASHA1 (seed Algorithm 1, SPEC §3.1): extragradient with compressed operator differences, for
 * unbiased compressors. Deterministic mode sends Q_m(F_m(z^{k+½}) − F_m(w^k)); stochastic mode
 * draws π_m^k from the shared stream (seed, k, 'sample', m) and sends
 * Q_m(F_{m,π}(z^{k+½}) − F_{m,π}(w^k)). The server broadcasts Q^serv[(1/M) Σ_m received] and b_k
 * (1 w.p. 1 − τ, from the shared stream (seed, k, 'coin', SERVER)); devices set
 * z^{k+1} = prox_{γh}(z̄^k − γg^k − γF(w^k)) and, when b_k = 1, w^{k+1} = z^{k+1} followed by a
 * full refresh of F(w) (see masha-base.ts for the phases).
 *
 * Missing shards in the 'diff' phase: the server still divides by M and counts a missing shard's
 * difference as 0. This is sound because (i) F(w^k) itself is always exact (it comes from the
 * refresh, which requires every shard), so the only error is in the correction term; (ii) that
 * error, (1/M)Σ_{missing}(F_m(z^{k+½}) − F_m(w^k)), is bounded by (1/M)Σ L_m‖z^{k+½} − w^k‖, the very
 * quantity that bounds the compressor's noise in the analysis (it is like a RandK-style dropout of
 * whole messages, only not rescaled), and it vanishes as z^{k+½}, w^k → z*. Rescaling by 1/|responders|
 * instead would be unbiased only if responders were random, and amplifies the noise when few answer.
 */
import { ValidationError } from '../errors.js';
import type { Downlink, ReplicaState, ServerState, ShardState, ShardWork, UplinkResult, UplinkShape } from './types.js';
import type { MethodConfig } from './common.js';
import { PURPOSE } from './common.js';
import { SERVER } from '../rng/streams.js';
import { MashaBase } from './masha-base.js';

export class Masha1 extends MashaBase {
  readonly name = 'masha1' as const;

  constructor(config: MethodConfig) {
    super('masha1', config);
    for (const [field, c] of [
      ['device', this.device],
      ['server', this.server],
    ] as const) {
      if (c.kind !== 'unbiased') {
        throw new ValidationError(field, `masha1 needs unbiased compressors, '${c.spec}' is ${c.kind} (use masha2 for contractive ones)`);
      }
    }
  }

  protected diffUplink(replica: ReplicaState, shard: ShardState, work: ShardWork, m: number): UplinkResult {
    const updated = this.difference(replica, shard, work, this.t1);
    const payload = this.device.compress(this.t1, this.ctx.sender(replica.iteration, PURPOSE.up('diff'), m));
    return { payload, shard: updated };
  }

  /** Q_m(F_m(z^{k+½}) − F_m(w^k)) (or its sampled F_{m,π} version): a compressed difference. */
  protected diffShape(replica: ReplicaState): UplinkShape {
    return { kind: 'difference', ...this.halfStepGeometry(replica), sampled: this.stochastic, scale: 1 };
  }

  protected diffBroadcast(_server: ServerState, round: number, mean: Float64Array): Downlink['payload'] {
    return this.server.compress(mean, this.ctx.sender(round, PURPOSE.down('diff'), SERVER));
  }

  protected diffStep(replica: ReplicaState, zbar: Float64Array, g: Float64Array, z: Float64Array): void {
    const Fw = replica.vectors.Fw;
    const gamma = this.gamma;
    const n = this.dim;
    for (let i = 0; i < n; i++) z[i] = zbar[i] - gamma * (g[i] + Fw[i]);
    this.prox.apply(z, gamma, z);
  }
}

export function createMasha1(config: MethodConfig): Masha1 {
  return new Masha1(config);
}
