/**
 * Pieces shared by the method implementations: configuration, compression contexts keyed by
 * (run seed, iteration, purpose, device), averaging of uplinks, and double-buffered shard memory.
 */
import type { CompressContext, Compressor, Payload, SharedContext } from '../compress/types.js';
import type { PhaseName } from './types.js';
import { IdentityCompressor } from '../compress/identity.js';
import { ValidationError } from '../errors.js';
import type { Problem } from '../problems/types.js';
import type { Prox } from '../prox/types.js';
import { SERVER, Streams } from '../rng/streams.js';
import type { Downlink, MethodInstance, PhaseInfo, ReplicaState, ShardState, ShardUplink, UplinkSum } from './types.js';

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
  up: (phase: PhaseName) => `up:${phase}`,
  down: (phase: PhaseName) => `down:${phase}`,
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
  constructor(
    seed: number,
    readonly devices: number,
  ) {
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
 * out += (1/M)·decompress(payload of shard m): one term of the server's average over the
 * responders, weight 1/M each, a missing shard counting as 0 (see the MASHA1 module doc for why
 * this is sound for compressed differences). Callers add the terms in ascending shard order, so
 * that the sum is the same bits whoever aggregates and in whatever order the uplinks arrived.
 */
export function accumulateUplink(ctx: Contexts, codec: Compressor, round: number, phase: PhaseName, shard: number, payload: Payload, out: Float64Array): void {
  const M = ctx.devices;
  if (!Number.isSafeInteger(shard) || shard < 0 || shard >= M) throw new ValidationError('shard', `uplink from unknown shard ${shard}`);
  if (payload.d !== out.length) throw new ValidationError('payload.d', `shard ${shard}: payload dimension ${payload.d}, expected ${out.length}`);
  codec.accumulate(payload, ctx.shared(round, PURPOSE.up(phase), shard), 1 / M, out);
}

/**
 * The server's sum of a list of uplinks (any order; duplicates refused): zeroes `out`, adds them
 * in ascending shard order and returns the included shards. For single-process drivers (the
 * reference runner, tests); the engine streams uplinks into its own sum as they arrive.
 */
export function sumUplinks<V extends Float64Array | Float32Array>(
  method: MethodInstance<V>,
  replica: ReplicaState<V>,
  phase: PhaseName,
  uplinks: readonly ShardUplink[],
  out: Float64Array,
): UplinkSum {
  out.fill(0);
  const sorted = [...uplinks].sort((a, b) => a.shard - b.shard);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].shard === sorted[i - 1].shard) throw new ValidationError('shard', `two uplinks for shard ${sorted[i].shard} in phase ${phase}`);
  }
  for (const u of sorted) method.accumulateUplink(replica, phase, u.shard, u.payload, out);
  return { sum: out, included: sorted.map((u) => u.shard) };
}

/** Throws unless every shard answered (phases with `requiresAll`). */
export function expectAll(name: string, phase: PhaseName, included: readonly number[], M: number): void {
  if (included.length !== M) {
    throw new ValidationError('uplinks', `${name}: phase '${phase}' requires all ${M} shards, got ${included.length}`);
  }
}

/** Compresses `x` as the server's broadcast of `phase` in iteration `round`. */
export function broadcast(ctx: Contexts, codec: Compressor, round: number, phase: PhaseName, x: Float64Array): Payload {
  return codec.compress(x, ctx.sender(round, PURPOSE.down(phase), SERVER));
}

/** out ← decompressed broadcast of `phase`; throws when a payload was expected and is missing. */
export function receive<V extends Float64Array | Float32Array>(ctx: Contexts, codec: Compressor, round: number, phase: PhaseName, down: Downlink, out: V): V {
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

export function unknownPhase(name: string, phase: PhaseName): never {
  throw new ValidationError('phase', `${name}: unknown phase '${phase}'`);
}
