/**
 * A deterministic byte-pair-encoding subword tokenizer (Sennrich et al. 2016) in the SentencePiece
 * style: text is lower-cased and NFKC-normalised, split into words (letter runs, digit runs, single
 * other characters), a word's first symbol carries the "▁" word-start mark, and merges are learned
 * from word frequencies until the vocabulary is full. Ties are broken by the lexicographic order of
 * the pair's symbol ids, so the same corpus always gives the same vocabulary (no randomness at all).
 *
 * Written here rather than taken from npm: the maintained JavaScript tokenizer libraries
 * (@huggingface/tokenizers' JS port, tiktoken ports) only encode with published vocabularies
 * (≥ 30 k entries) and cannot train one; the Rust-backed trainers need native binaries.
 */
import { ValidationError } from '../../errors.js';

export const SPECIAL_TOKENS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'] as const;
export const PAD = 0;
export const UNK = 1;
export const CLS = 2;
export const SEP = 3;
export const MASK = 4;
export const WORD_START = '▁';

export interface TokenizerData {
  readonly version: 1;
  /** Piece of each id (ids < specials.length are the special tokens). */
  readonly vocab: readonly string[];
  /** Merge rules in rank order, as pairs of pieces. */
  readonly merges: readonly (readonly [string, string])[];
}

/** Splits normalised text into words. */
const WORD_RE = /\p{L}+|\p{N}+|[^\s\p{L}\p{N}]/gu;
/** Words longer than this are cut (base64 blobs, long URLs) so one word cannot dominate. */
export const MAX_WORD_CHARS = 24;

export function normalize(text: string): string {
  return text.normalize('NFKC').toLowerCase();
}

export function* words(text: string): Generator<string> {
  for (const m of normalize(text).matchAll(WORD_RE)) yield m[0].length > MAX_WORD_CHARS ? m[0].slice(0, MAX_WORD_CHARS) : m[0];
}

/** The initial symbols of a word (code points, the first marked as a word start). */
function charsOf(word: string): string[] {
  const cs = Array.from(word);
  cs[0] = WORD_START + cs[0];
  return cs;
}

/** Max-heap of (count, key) with lazy invalidation; ties pop the smaller key first. */
class PairHeap {
  private counts: number[] = [];
  private keys: number[] = [];
  get size(): number {
    return this.keys.length;
  }
  private above(i: number, j: number): boolean {
    const ci = this.counts[i];
    const cj = this.counts[j];
    return ci > cj || (ci === cj && this.keys[i] < this.keys[j]);
  }
  private swap(i: number, j: number): void {
    [this.counts[i], this.counts[j]] = [this.counts[j], this.counts[i]];
    [this.keys[i], this.keys[j]] = [this.keys[j], this.keys[i]];
  }
  push(count: number, key: number): void {
    this.counts.push(count);
    this.keys.push(key);
    let i = this.keys.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.above(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }
  pop(): { count: number; key: number } {
    const top = { count: this.counts[0], key: this.keys[0] };
    const last = this.keys.length - 1;
    this.swap(0, last);
    this.counts.pop();
    this.keys.pop();
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < this.keys.length && this.above(l, m)) m = l;
      if (r < this.keys.length && this.above(r, m)) m = r;
      if (m === i) break;
      this.swap(i, m);
      i = m;
    }
    return top;
  }
}

export interface TrainOptions {
  readonly vocabSize: number;
  /** Characters seen fewer times become [UNK] (default 20). */
  readonly minCharCount?: number;
  /** Words seen fewer times do not take part in learning merges (default 2). */
  readonly minWordCount?: number;
}

/** Learns a vocabulary of `vocabSize` pieces from `texts`. Deterministic. */
export function trainBpe(texts: Iterable<string>, opts: TrainOptions): TokenizerData {
  const V = opts.vocabSize;
  if (!Number.isInteger(V) || V < SPECIAL_TOKENS.length + 2 || V > 65536) throw new ValidationError('vocabSize', `must be an integer in [${SPECIAL_TOKENS.length + 2}, 65536], got ${V}`);
  const wordCounts = new Map<string, number>();
  for (const t of texts) for (const w of words(t)) wordCounts.set(w, (wordCounts.get(w) ?? 0) + 1);
  // Alphabet: characters (with and without the word-start mark) seen often enough.
  const charCounts = new Map<string, number>();
  for (const [w, n] of wordCounts) for (const c of charsOf(w)) charCounts.set(c, (charCounts.get(c) ?? 0) + n);
  const minChar = opts.minCharCount ?? 20;
  const alphabet = [...charCounts].filter(([, n]) => n >= minChar).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const vocab: string[] = [...SPECIAL_TOKENS];
  const id = new Map<string, number>();
  vocab.forEach((v, i) => id.set(v, i));
  for (const [c] of alphabet) {
    if (vocab.length >= V) break;
    id.set(c, vocab.length);
    vocab.push(c);
  }
  // Word types as id sequences (sorted for a deterministic order).
  const minWord = opts.minWordCount ?? 2;
  const types = [...wordCounts].filter(([, n]) => n >= minWord).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const syms: number[][] = types.map(([w]) => charsOf(w).map((c) => id.get(c) ?? UNK));
  const freq = types.map(([, n]) => n);
  const K = 65536;
  const pairCount = new Map<number, number>();
  const pairWords = new Map<number, Set<number>>();
  const addPair = (key: number, wi: number, n: number): void => {
    pairCount.set(key, (pairCount.get(key) ?? 0) + n);
    let s = pairWords.get(key);
    if (!s) pairWords.set(key, (s = new Set()));
    s.add(wi);
  };
  for (let wi = 0; wi < syms.length; wi++) {
    const s = syms[wi];
    for (let i = 0; i + 1 < s.length; i++) if (s[i] !== UNK && s[i + 1] !== UNK) addPair(s[i] * K + s[i + 1], wi, freq[wi]);
  }
  const heap = new PairHeap();
  for (const [key, n] of pairCount) heap.push(n, key);
  const merges: [string, string][] = [];
  while (vocab.length < V && heap.size > 0) {
    const { count, key } = heap.pop();
    if ((pairCount.get(key) ?? 0) !== count || count <= 0) continue; // stale entry
    const a = Math.floor(key / K);
    const b = key % K;
    const piece = vocab[a] + vocab[b];
    const nid = vocab.length;
    vocab.push(piece);
    id.set(piece, nid);
    merges.push([vocab[a], vocab[b]]);
    const touched = new Map<number, number>();
    const affected = [...(pairWords.get(key) ?? [])].sort((x, y) => x - y);
    for (const wi of affected) {
      const s = syms[wi];
      const n = freq[wi];
      // Remove this word's pairs, merge, add them back.
      for (let i = 0; i + 1 < s.length; i++) {
        if (s[i] === UNK || s[i + 1] === UNK) continue;
        const k = s[i] * K + s[i + 1];
        pairCount.set(k, (pairCount.get(k) ?? 0) - n);
        touched.set(k, 1);
      }
      const out: number[] = [];
      for (let i = 0; i < s.length; i++) {
        if (i + 1 < s.length && s[i] === a && s[i + 1] === b) {
          out.push(nid);
          i++;
        } else out.push(s[i]);
      }
      syms[wi] = out;
      for (let i = 0; i + 1 < out.length; i++) {
        if (out[i] === UNK || out[i + 1] === UNK) continue;
        const k = out[i] * K + out[i + 1];
        addPair(k, wi, n);
        touched.set(k, 1);
      }
    }
    pairWords.delete(key);
    pairCount.delete(key);
    for (const k of [...touched.keys()].sort((x, y) => x - y)) {
      const n = pairCount.get(k) ?? 0;
      if (n > 0) heap.push(n, k);
    }
  }
  return { version: 1, vocab, merges };
}

/** Encodes text with a trained vocabulary (greedy lowest-rank merges per word, cached). */
export class Tokenizer {
  readonly vocabSize: number;
  private readonly id = new Map<string, number>();
  private readonly rank = new Map<string, number>();
  private readonly cache = new Map<string, number[]>();
  private readonly pieces: readonly string[];

  constructor(data: TokenizerData) {
    this.pieces = data.vocab;
    this.vocabSize = data.vocab.length;
    data.vocab.forEach((p, i) => {
      if (this.id.has(p)) throw new ValidationError(`tokenizer.vocab[${i}]`, `duplicate piece ${JSON.stringify(p)}`);
      this.id.set(p, i);
    });
    data.merges.forEach(([a, b], i) => {
      if (!this.id.has(a + b)) throw new ValidationError(`tokenizer.merges[${i}]`, `merge result ${JSON.stringify(a + b)} is not in the vocabulary`);
      this.rank.set(`${a}\u0000${b}`, i);
    });
  }

  encodeWord(word: string): number[] {
    const hit = this.cache.get(word);
    if (hit) return hit;
    let s = charsOf(word);
    for (;;) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i + 1 < s.length; i++) {
        const r = this.rank.get(`${s[i]}\u0000${s[i + 1]}`);
        if (r !== undefined && r < bestRank) {
          bestRank = r;
          best = i;
        }
      }
      if (best < 0) break;
      s = [...s.slice(0, best), s[best] + s[best + 1], ...s.slice(best + 2)];
    }
    const ids = s.map((p) => this.id.get(p) ?? UNK);
    if (this.cache.size < 200_000) this.cache.set(word, ids);
    return ids;
  }

  /** Token ids of `text`, at most `max` of them. */
  encode(text: string, max = Infinity): number[] {
    const out: number[] = [];
    for (const w of words(text)) {
      for (const t of this.encodeWord(w)) {
        if (out.length >= max) return out;
        out.push(t);
      }
    }
    return out;
  }

  decode(ids: ArrayLike<number>): string {
    let s = '';
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (id < SPECIAL_TOKENS.length) continue;
      const p = this.pieces[id] ?? '';
      s += p.startsWith(WORD_START) ? ` ${p.slice(1)}` : p;
    }
    return s.trim();
  }
}
