import type { MethodInstance } from '../methods/types.js';
import type { Problem } from '../problems/types.js';

/** One point of a convergence curve. Bits are cumulative from the start of the run. */
export interface IterationRecord {
  readonly iteration: number;
  /** ‖z^k − z*‖² / ‖z⁰ − z*‖² when z* is known, else null. */
  readonly relDist: number | null;
  /** ‖F(z^k)‖² (‖∇f(x^k)‖² for minimisation). */
  readonly opNormSq: number;
  /** Payload bits sent by all devices (uplink), cumulative. */
  readonly uplinkBits: number;
  /** Payload bits broadcast by the server (downlink, counted once per broadcast), cumulative. */
  readonly downlinkBits: number;
}

export interface ReferenceRunOptions {
  readonly problem: Problem;
  readonly method: MethodInstance;
  readonly iterations: number;
  /** Stop early once relDist ≤ target (or opNormSq ≤ target·‖F(z⁰)‖² when z* is unknown). */
  readonly target?: number;
  /** Record every `recordEvery` iterations (and the last); default 1. */
  readonly recordEvery?: number;
  /** Stop early when the metric exceeds this multiple of its initial value (divergence); default 1e12. */
  readonly divergenceFactor?: number;
  /** Called after each recorded iteration (progress bars). */
  readonly onRecord?: (record: IterationRecord) => void;
  /** Starting point; default problem.initialPoint(). */
  readonly z0?: Float64Array;
}

export interface ReferenceRunResult {
  readonly records: readonly IterationRecord[];
  readonly iterations: number;
  readonly uplinkBits: number;
  readonly downlinkBits: number;
  /** Final iterate. */
  readonly z: Float64Array;
  /** True when the target was met. */
  readonly reached: boolean;
  /** Uplink bits when the target was first met, else null. */
  readonly uplinkBitsToTarget: number | null;
  /** True when the run stopped because the metric blew up (or became non-finite). */
  readonly diverged: boolean;
}
