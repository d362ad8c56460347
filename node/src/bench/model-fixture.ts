/** A fixed synthetic batch for the model benchmarks (no dataset needed). */
import { allocBatch, fillBatch, type AlbertConfig, type BatchBuffers, type TokenSet } from '@masha/protocol/model';
import { Rng } from '@masha/protocol/rng';

export function syntheticSet(c: AlbertConfig, n: number, seed: number): TokenSet {
  const rng = new Rng(seed, 7, 7, 7);
  const offsets = new Uint32Array(n + 1);
  const lens = Array.from({ length: n }, () => Math.floor(c.seqLen / 2) + rng.nextInt(c.seqLen));
  lens.forEach((l, i) => (offsets[i + 1] = offsets[i] + l));
  const tokens = Uint16Array.from({ length: offsets[n] }, () => 5 + rng.nextInt(c.vocabSize - 5));
  const labels = Uint8Array.from({ length: n }, () => rng.nextInt(2));
  return { vocabSize: c.vocabSize, classes: 2, count: n, offsets, tokens, labels };
}

export function syntheticBatch(c: AlbertConfig, batch: number, seed: number): BatchBuffers {
  const set = syntheticSet(c, batch, seed);
  const buf = allocBatch(c, batch);
  fillBatch(
    c,
    set,
    Int32Array.from({ length: batch }, (_v, i) => i),
    buf,
    false,
    null,
  );
  return buf;
}
