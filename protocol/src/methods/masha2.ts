/**
 * MASHA2 (SPEC §3.2, reconstructed: the seed defers Algorithm 2 to an appendix we do not have):
 * MASHA1's extragradient skeleton with contractive compressors and error feedback on both sides,
 * unconstrained (h = 0).
 *   devices: z^{k+½} = z̄^k − γF(w^k); p_m = γ(F_m(z^{k+½}) − F_m(w^k)) + e_m; send c_m = C_m(p_m);
 *            e_m ← p_m − c_m.
 *   server:  p = (1/M)Σ c_m + e; broadcast c = C^serv(p); e ← p − c; and b_k.
 *   devices: z^{k+1} = z̄^k − γF(w^k) − c; refresh w exactly as MASHA1.
 * Stochastic mode replaces the difference by F_{m,π}(z^{k+½}) − F_{m,π}(w^k) as in MASHA1.
 *
 * Shard memory adds e (and a spare buffer), adopted only when the shard was included: a message
 * that missed the round is simply lost (its difference counts as 0, as in MASHA1) and e_m keeps its
 * previous value. The server error e lives in ServerState and is reset when the aggregator changes.
 */
import { ValidationError } from '../errors.js';
import type { Downlink, ReplicaState, ServerState, ShardState, ShardWork, UplinkResult, UplinkShape } from './types.js';
import type { MethodConfig } from './common.js';
import { PURPOSE, vector } from './common.js';
import { SERVER } from '../rng/streams.js';
import { MashaBase } from './masha-base.js';

export class Masha2 extends MashaBase {
  readonly name = 'masha2' as const;

  constructor(config: MethodConfig) {
    super('masha2', config);
    if (this.prox.spec !== 'identity') {
      throw new ValidationError('prox', `masha2 is unconstrained (h = 0), got prox '${this.prox.spec}'`);
    }
  }

  override initShard(m: number): ShardState {
    const s = super.initShard(m);
    return { vectors: { ...s.vectors, e: new Float64Array(this.dim), eSpare: new Float64Array(this.dim) } };
  }

  override initServer(): ServerState {
    return { vectors: { e: new Float64Array(this.dim) } };
  }

  protected diffUplink(replica: ReplicaState, shard: ShardState, work: ShardWork, m: number): UplinkResult {
    const k = replica.iteration;
    const updated = this.difference(replica, shard, work, this.t1);
    const base = updated ?? shard;
    const e = vector(base, 'e');
    const eNext = vector(base, 'eSpare');
    const p = this.t1;
    const gamma = this.gamma;
    const n = this.dim;
    for (let i = 0; i < n; i++) p[i] = gamma * p[i] + e[i];
    const purpose = PURPOSE.up('diff');
    const payload = this.device.compress(p, this.ctx.sender(k, purpose, m));
    this.device.decompress(payload, this.ctx.shared(k, purpose, m), this.t2);
    for (let i = 0; i < n; i++) eNext[i] = p[i] - this.t2[i];
    return { payload, shard: { vectors: { ...base.vectors, e: eNext, eSpare: e } } };
  }

  /** C_m(γD_m + e_m): e_m is the holder's own error memory, so the answer is opaque (not bounded, not audited). */
  protected diffShape(_replica: ReplicaState): UplinkShape {
    return { kind: 'opaque' };
  }

  protected diffBroadcast(server: ServerState, round: number, mean: Float64Array): Downlink['payload'] {
    const e = vector(server, 'e');
    const n = this.dim;
    for (let i = 0; i < n; i++) mean[i] += e[i];
    const purpose = PURPOSE.down('diff');
    const payload = this.server.compress(mean, this.ctx.sender(round, purpose, SERVER));
    this.server.decompress(payload, this.ctx.shared(round, purpose, SERVER), this.t2);
    for (let i = 0; i < n; i++) e[i] = mean[i] - this.t2[i];
    return payload;
  }

  protected diffStep(replica: ReplicaState, zbar: Float64Array, c: Float64Array, z: Float64Array): void {
    const Fw = replica.vectors.Fw;
    const gamma = this.gamma;
    const n = this.dim;
    for (let i = 0; i < n; i++) z[i] = zbar[i] - gamma * Fw[i] - c[i];
  }
}

export function createMasha2(config: MethodConfig): Masha2 {
  return new Masha2(config);
}
