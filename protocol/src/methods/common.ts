/**
 * Pieces shared by the method implementations: configuration, compression contexts keyed by
 * (run seed, iteration, purpose, device), averaging of uplinks, and double-buffered shard memory.
 */
import type { CompressContext, Compressor, Payload, SharedContext } from '../compress/types.js';
import { IdentityCompressor } from '../compress/identity.js';
import { ValidationError } from '../errors.js';
import type { Problem } from '../problems/types.js';
import type { Prox } from '../prox/types.js';
import { SERVER, Streams } from '../rng/streams.js';
import type { Downlink, PhaseInfo, ReplicaState, ShardState, ShardUplink } from './types.js';

/** Configuration of every method (SPEC §3). */
export interface MethodConfig {
  readonly problem: Problem;
  /** Run seed: keys every shared and private random draw. */
  readonly seed: number;
  /** Stepsize γ > 0. */
  readonly gamma: number;
  /** Momentum τ ∈ [0, 1) of MASHA1/MASHA2; default 1 − β (deterministic) or 1 − min(1/r, β) (stochastic). */
  readonly tau?: number;
  /** Device compressor Q_m^dev / C_m^dev (the same for every device). */
  readonly device: Compressor;
  /** Server compressor Q^serv / C^serv; default identity. */
  readonly server?: Compressor;
  /** prox_{γh}; default identity (h = 0). */
  readonly prox?: Prox;
  /** Finite-sum mode: each device evaluates one sampled F_{m,π} per difference (MASHA1/MASHA2). */
  readonly stochastic?: boolean;
}

/** The codec of every full (uncompressed) exchange: float32 values, 32 bits per element. */
export const FULL = new IdentityCompressor();

/** Purposes of the keyed streams. */
export const PURPOSE = {
  coin: 'coin',
  sample: 'sample',
  up: (phase: string) => `up:${phase}`,
  down: (phase: string) => `down:${phase}`,
  local: (purpose: string) => `local:${purpose}`,
} as const;

export function validateCommon(name: string, config: MethodConfig): void {
  const { problem, gamma, seed } = config;
  if (!problem || !(problem.dim >= 1) || !(problem.shards >= 1)) throw new ValidationError('problem', `${name}: invalid problem`);
  if (!(gamma > 0 && Number.isFinite(gamma))) throw new ValidationError('gamma', `${name}: stepsize must be finite and > 0, got ${gamma}`);
  if (!Number.isSafeInteger(seed) || seed < 0) throw new ValidationError('seed', `${name}: seed must be a non-negative safe integer, got ${seed}`);
  if (config.tau !== undefined && !(config.tau >= 0 && config.tau < 1)) {
    throw new ValidationError('tau', `${name}: τ must be in [0, 1), got ${config.tau}`);
  }
  if (config.stochastic && problem.samples < 2) {
    throw new ValidationError('stochastic', `${name}: stochastic mode needs a finite-sum problem (samples ≥ 2), got ${problem.samples}`);
  }
}

/** Builds the shared and private compression contexts of one run. */
export class Contexts {
  readonly streams: Streams;
  constructor(seed: number, readonly devices: number) {
    this.streams = new Streams(seed);
  }
  shared(round: number, purpose: string, device: number): SharedContext {
    return { streams: this.streams, round, purpose, device, devices: this.devices };
  }
  /** Sender context with private randomness keyed by (seed, round, `local:` + purpose, device). */
  sender(round: number, purpose: string, device: number): CompressContext {
    return {
      streams: this.streams,
      round,
      purpose,
      device,
      devices: this.devices,
      local: this.streams.rng(round, PURPOSE.local(purpose), device),
    };
  }
  /** The refresh bit b_k: 1 with probability p, from the shared stream (seed, k, 'coin', SERVER). */
  coin(round: number, p: number): boolean {
    return this.streams.rng(round, PURPOSE.coin, SERVER).nextBool(p);
  }
  /** Device m's sample index π_m^k from the shared stream (seed, k, 'sample', m). */
  sample(round: number, m: number, samples: number): number {
    return this.streams.rng(round, PURPOSE.sample, m).nextInt(samples);
  }
}

/**
 * out ← (1/M) Σ_{received} decompress(payload_m): the server's average over the responders with
 * weight 1/M each, a missing shard counting as 0 (see the MASHA1 module doc for why this is sound
 * for compressed differences). Throws if a shard appears twice or is out of range.
 */
export function averageUplinks(
  ctx: Contexts,
  codec: Compressor,
  round: number,
  phase: string,
  uplinks: readonly ShardUplink[],
  out: Float64Array,
): number[] {
  out.fill(0);
  const M = ctx.devices;
  const purpose = PURPOSE.up(phase);
  const seen = new Set<number>();
  for (const u of uplinks) {
    if (!Number.isSafeInteger(u.shard) || u.shard < 0 || u.shard >= M) throw new ValidationError('shard', `uplink from unknown shard ${u.shard}`);
    if (seen.has(u.shard)) throw new ValidationError('shard', `two uplinks for shard ${u.shard} in phase ${phase}`);
    if (u.payload.d !== out.length) throw new ValidationError('payload.d', `shard ${u.shard}: payload dimension ${u.payload.d}, expected ${out.length}`);
    seen.add(u.shard);
    codec.accumulate(u.payload, ctx.shared(round, purpose, u.shard), 1 / M, out);
  }
  return [...seen].sort((a, b) => a - b);
}

/** Throws unless every shard answered (phases with `requiresAll`). */
export function expectAll(name: string, phase: string, included: readonly number[], M: number): void {
  if (included.length !== M) {
    throw new ValidationError('uplinks', `${name}: phase '${phase}' requires all ${M} shards, got ${included.length}`);
  }
}

/** Compresses `x` as the server's broadcast of `phase` in iteration `round`. */
export function broadcast(ctx: Contexts, codec: Compressor, round: number, phase: string, x: Float64Array): Payload {
  return codec.compress(x, ctx.sender(round, PURPOSE.down(phase), SERVER));
}

/** out ← decompressed broadcast of `phase`; throws when a payload was expected and is missing. */
export function receive(ctx: Contexts, codec: Compressor, round: number, phase: string, down: Downlink, out: Float64Array): Float64Array {
  if (!down.payload) throw new ValidationError('payload', `phase '${phase}': downlink carries no payload`);
  if (down.payload.d !== out.length) throw new ValidationError('payload.d', `phase '${phase}': downlink dimension ${down.payload.d}, expected ${out.length}`);
  codec.decompress(down.payload, ctx.shared(round, PURPOSE.down(phase), SERVER), out);
  return out;
}

export function phaseInfo(uplink: Compressor, downlink: Compressor, requiresAll: boolean, flagBits = 0): PhaseInfo {
  return { uplink, downlink, requiresAll, flagBits };
}

export function vector(state: ReplicaState | ShardState, name: string): Float64Array {
  const v = state.vectors[name];
  if (!v) throw new ValidationError(name, `state has no vector '${name}'`);
  return v;
}

export function unknownPhase(name: string, phase: string): never {
  throw new ValidationError('phase', `${name}: unknown phase '${phase}'`);
}
