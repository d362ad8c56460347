/**
 * The dataset manifest (`data.json` beside the shard files) and the run's shards: shard m of M is
 * the contiguous range [⌊m·n/M⌋, ⌊(m+1)·n/M⌋) of the (pre-shuffled) training split, so a holder
 * needs only the one or two files that overlap it. The manifest is untrusted input: validated with
 * zod, and its file list must tile each split exactly.
 */
import { z } from 'zod';
import { ValidationError } from '../../errors.js';

export const DATASET_FORMAT = 'masha-token-shards';

const fileSchema = z.strictObject({
  /** A plain file name (no directories): resolved against the manifest's location. */
  file: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}\.bin$/, 'must be a plain file name ending in .bin'),
  first: z.number().int().min(0),
  count: z.number().int().min(1),
  bytes: z.number().int().min(1).max(1 << 30),
  crc32c: z.number().int().min(0).max(0xffffffff),
});

const splitSchema = z.strictObject({
  count: z.number().int().min(1).max(1e8),
  files: z.array(fileSchema).min(1).max(100_000),
});

export const datasetManifestSchema = z.strictObject({
  format: z.literal(DATASET_FORMAT),
  version: z.literal(1),
  name: z.string().min(1).max(200),
  /** Where the text came from (npm package and version) and its licence. */
  source: z.string().min(1).max(500),
  license: z.string().min(1).max(500),
  seed: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  vocabSize: z.number().int().min(8).max(65536),
  classes: z.array(z.string().min(1).max(100)).min(2).max(256),
  /** Tokens kept per example (longer texts are cut). */
  maxTokens: z.number().int().min(2).max(1 << 16),
  tokenizer: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}\.json$/, 'must be a plain file name ending in .json'),
  splits: z.strictObject({ train: splitSchema, test: splitSchema }),
});

export type DatasetManifest = z.infer<typeof datasetManifestSchema>;
export type SplitName = keyof DatasetManifest['splits'];
export type ShardFile = DatasetManifest['splits']['train']['files'][number];

export function parseDatasetManifest(value: unknown, where = 'data.json'): DatasetManifest {
  const r = datasetManifestSchema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new ValidationError(`${where}: ${issue.path.map(String).join('.') || '(root)'}`, issue.message);
  }
  const m = r.data;
  for (const split of ['train', 'test'] as const) {
    const s = m.splits[split];
    let next = 0;
    s.files.forEach((f, i) => {
      if (f.first !== next) throw new ValidationError(`${where}: splits.${split}.files.${i}.first`, `expected ${next} (files must tile the split), got ${f.first}`);
      next += f.count;
    });
    if (next !== s.count) throw new ValidationError(`${where}: splits.${split}.count`, `files hold ${next} examples, count says ${s.count}`);
  }
  return m;
}

/** Example range [start, end) of shard m of M over n examples. */
export function shardRange(n: number, M: number, m: number): { start: number; end: number } {
  if (!Number.isInteger(M) || M < 1 || M > n) throw new ValidationError('shards', `must be an integer in [1, ${n}] (the training examples), got ${M}`);
  if (!Number.isInteger(m) || m < 0 || m >= M) throw new RangeError(`shard ${m} out of range [0, ${M})`);
  return { start: Math.floor((m * n) / M), end: Math.floor(((m + 1) * n) / M) };
}

/** The files of a split that overlap examples [start, end). */
export function filesForRange(files: readonly ShardFile[], start: number, end: number): ShardFile[] {
  return files.filter((f) => f.first < end && f.first + f.count > start);
}
