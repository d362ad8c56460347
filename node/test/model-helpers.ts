/** Synthetic token data for model tests (no corpus needed). */
import { type TokenSet } from '@masha/protocol/model';
import { Rng } from '@masha/protocol/rng';

/** n examples of 8–40 tokens in [5, vocab); label 1 iff token 5 occurs among the first 8 tokens. */
export function syntheticTokens(n: number, vocab: number, seed: number): TokenSet {
  const rng = new Rng(seed, 1, 2, 3);
  const offsets = new Uint32Array(n + 1);
  const chunks: number[] = [];
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const len = 8 + rng.nextInt(33);
    let hit = 0;
    for (let k = 0; k < len; k++) {
      const t = 5 + rng.nextInt(vocab - 5);
      if (k < 8 && t === 5) hit = 1;
      chunks.push(t);
    }
    labels[i] = hit;
    offsets[i + 1] = chunks.length;
  }
  return { vocabSize: vocab, classes: 2, count: n, offsets, tokens: Uint16Array.from(chunks), labels };
}

export const SMALL_MODEL = { vocabSize: 64, seqLen: 16, embed: 16, hidden: 32, heads: 2, ffn: 64, layers: 2, classes: 2, mlmSlots: 3 } as const;
