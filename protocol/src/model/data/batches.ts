/**
 * Minibatch assembly into preallocated input arrays: [CLS] + the first S − 1 tokens of each
 * example, [PAD] after; MLM masking BERT-style (15 % of the real tokens, at most `mlmSlots`; of
 * those 80 % → [MASK], 10 % → a random token, 10 % unchanged), drawn from a caller's seeded Rng.
 * Rows past the given examples are padding with weight 0.
 */
import type { Rng } from '../../rng/xoshiro128.js';
import type { AlbertConfig } from '../albert/config.js';
import { CLS, MASK, PAD, SPECIAL_TOKENS } from './bpe.js';
import type { TokenSet } from './shards.js';

export const MLM_PROBABILITY = 0.15;

export interface BatchBuffers {
  readonly batch: number;
  readonly ids: Int32Array;
  readonly mask: Float32Array | Float64Array;
  readonly labels: Int32Array;
  readonly weights: Float32Array | Float64Array;
  readonly mlmPos: Int32Array;
  readonly mlmLabels: Int32Array;
  readonly mlmWeights: Float32Array | Float64Array;
  /** Real tokens per row (0 for padding rows). */
  readonly lengths: Int32Array;
}

export function allocBatch(c: AlbertConfig, batch: number, float: 'float32' | 'float64' = 'float32'): BatchBuffers {
  const F = float === 'float64' ? Float64Array : Float32Array;
  const S = c.seqLen;
  const P = c.mlmSlots;
  return {
    batch,
    ids: new Int32Array(batch * S),
    mask: new F(batch * S),
    labels: new Int32Array(batch),
    weights: new F(batch),
    mlmPos: new Int32Array(batch * P),
    mlmLabels: new Int32Array(batch * P),
    mlmWeights: new F(batch * P),
    lengths: new Int32Array(batch),
  };
}

/**
 * Fills `buf` with examples `indices` of `set` (indices.length ≤ batch). `rng` drives the MLM
 * masking (ignored when `mlm` is false).
 */
export function fillBatch(c: AlbertConfig, set: TokenSet, indices: ArrayLike<number>, buf: BatchBuffers, mlm: boolean, rng: Rng | null): void {
  const S = c.seqLen;
  const P = c.mlmSlots;
  const B = buf.batch;
  if (indices.length > B) throw new RangeError(`fillBatch: ${indices.length} examples for a batch of ${B}`);
  if (set.vocabSize > c.vocabSize) throw new RangeError(`fillBatch: data vocabulary ${set.vocabSize} exceeds the model's ${c.vocabSize}`);
  buf.ids.fill(PAD);
  buf.mask.fill(0);
  buf.labels.fill(0);
  buf.weights.fill(0);
  buf.mlmLabels.fill(0);
  buf.mlmWeights.fill(0);
  buf.lengths.fill(0);
  const cand = new Int32Array(S);
  for (let b = 0; b < B; b++) {
    const row = b * S;
    buf.ids[row] = CLS;
    buf.mask[row] = 1;
    for (let k = 0; k < P; k++) buf.mlmPos[b * P + k] = row;
    if (b >= indices.length) continue;
    const ex = indices[b];
    if (!(ex >= 0 && ex < set.count)) throw new RangeError(`fillBatch: example ${ex} out of range [0, ${set.count})`);
    const start = set.offsets[ex];
    const n = Math.min(set.offsets[ex + 1] - start, S - 1);
    for (let i = 0; i < n; i++) {
      buf.ids[row + 1 + i] = set.tokens[start + i];
      buf.mask[row + 1 + i] = 1;
    }
    buf.lengths[b] = n + 1;
    buf.labels[b] = set.labels[ex];
    buf.weights[b] = 1;
    if (!mlm || !rng || n === 0) continue;
    const k = Math.min(P, Math.max(1, Math.round(MLM_PROBABILITY * n)));
    for (let i = 0; i < n; i++) cand[i] = 1 + i;
    for (let j = 0; j < k; j++) {
      // Partial Fisher–Yates: position j takes a uniform pick of the remaining candidates.
      const r = j + rng.nextInt(n - j);
      const t = cand[j];
      cand[j] = cand[r];
      cand[r] = t;
      const pos = cand[j];
      const slot = b * P + j;
      buf.mlmPos[slot] = row + pos;
      buf.mlmLabels[slot] = buf.ids[row + pos];
      buf.mlmWeights[slot] = 1;
      const u = rng.nextFloat();
      if (u < 0.8) buf.ids[row + pos] = MASK;
      else if (u < 0.9) buf.ids[row + pos] = SPECIAL_TOKENS.length + rng.nextInt(c.vocabSize - SPECIAL_TOKENS.length);
    }
  }
}

/**
 * `count` example indices from [start, end): distinct (Floyd's algorithm) when the range holds
 * enough, with replacement otherwise. Deterministic given the Rng.
 */
export function sampleExamples(rng: Rng, start: number, end: number, count: number, out: Int32Array = new Int32Array(count)): Int32Array {
  const n = end - start;
  if (n < 1) throw new RangeError(`sampleExamples: empty range [${start}, ${end})`);
  if (n < count) {
    for (let i = 0; i < count; i++) out[i] = start + rng.nextInt(n);
    return out;
  }
  const chosen = new Set<number>();
  let i = 0;
  for (let j = n - count; j < n; j++) {
    const t = rng.nextInt(j + 1);
    const v = chosen.has(t) ? j : t;
    chosen.add(v);
    out[i++] = start + v;
  }
  return out;
}
