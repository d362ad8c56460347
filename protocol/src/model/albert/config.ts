/**
 * Configuration of the tiny ALBERT (Lan et al. 2020): factorised embeddings (V×E, E×H), one
 * transformer layer shared across L applications, an MLM head tied to the word embeddings and a
 * classification head on the first token. Validated with zod: bad values are refused with a
 * ValidationError naming the field (`model.heads`).
 */
import { z } from 'zod';
import { ValidationError } from '../../errors.js';

export const OBJECTIVES = ['mlm', 'classify'] as const;
export type Objective = (typeof OBJECTIVES)[number];

/** The default task's model: about 1.4 M parameters, sequence length 64 (see README, "Local training"). */
export const ALBERT_DEFAULTS = {
  vocabSize: 4096,
  seqLen: 64,
  embed: 128,
  hidden: 256,
  heads: 4,
  ffn: 1024,
  layers: 4,
  classes: 2,
  mlmSlots: 10,
  gelu: 'tanh' as const,
  lnEps: 1e-12,
  initStd: 0.02,
};

const int = (lo: number, hi: number) => z.number().int().min(lo).max(hi);

export const albertConfigSchema = z.strictObject({
  /** Vocabulary size V (token ids < V; shard files store ids as 16-bit). */
  vocabSize: int(8, 65536).default(ALBERT_DEFAULTS.vocabSize),
  /** Sequence length S (first token [CLS]). */
  seqLen: int(2, 1024).default(ALBERT_DEFAULTS.seqLen),
  /** Embedding size E (ALBERT's factorisation: V×E then E×H). */
  embed: int(1, 4096).default(ALBERT_DEFAULTS.embed),
  /** Hidden size H (divisible by heads). */
  hidden: int(1, 8192).default(ALBERT_DEFAULTS.hidden),
  heads: int(1, 128).default(ALBERT_DEFAULTS.heads),
  /** Feed-forward inner size. */
  ffn: int(1, 32768).default(ALBERT_DEFAULTS.ffn),
  /** How many times the one shared layer is applied. */
  layers: int(1, 64).default(ALBERT_DEFAULTS.layers),
  classes: int(2, 1024).default(ALBERT_DEFAULTS.classes),
  /** MLM prediction slots per sequence (BERT's max_predictions_per_seq). */
  mlmSlots: int(1, 1024).default(ALBERT_DEFAULTS.mlmSlots),
  gelu: z.enum(['tanh', 'erf']).default(ALBERT_DEFAULTS.gelu),
  lnEps: z.number().positive().max(0.1).default(ALBERT_DEFAULTS.lnEps),
  initStd: z.number().positive().max(1).default(ALBERT_DEFAULTS.initStd),
});

export type AlbertConfig = z.infer<typeof albertConfigSchema>;
export type AlbertConfigInput = z.input<typeof albertConfigSchema>;

/** Validates a configuration (untrusted JSON or flags); field names are prefixed with `prefix`. */
export function parseAlbertConfig(value: unknown, prefix = 'model'): AlbertConfig {
  const r = albertConfigSchema.safeParse(value ?? {});
  if (!r.success) {
    const issue = r.error.issues[0];
    const path = issue.path.map(String).join('.');
    throw new ValidationError(path ? `${prefix}.${path}` : prefix, issue.message);
  }
  const c = r.data;
  if (c.hidden % c.heads !== 0) throw new ValidationError(`${prefix}.heads`, `hidden size ${c.hidden} is not divisible by ${c.heads} heads`);
  if (c.mlmSlots > c.seqLen - 1) throw new ValidationError(`${prefix}.mlmSlots`, `at most seqLen − 1 = ${c.seqLen - 1} prediction slots, got ${c.mlmSlots}`);
  if (c.classes > c.vocabSize) throw new ValidationError(`${prefix}.classes`, `more classes (${c.classes}) than vocabulary entries (${c.vocabSize})`);
  return c;
}
