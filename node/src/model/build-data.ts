/**
 * Builds the default dataset: tokenises the SpamAssassin corpus and writes compact token shards.
 *
 *   1. a fixed split: messages shuffled with a keyed stream of `seed`; the first `testFraction`
 *      are the test set, the rest the training set (in that shuffled order);
 *   2. the BPE tokenizer trained on the training texts only (deterministic, bpe.ts);
 *   3. each message encoded to at most `maxTokens` tokens (messages with none are dropped);
 *   4. each split written as `files` contiguous shard files (`train-000.bin`, …), then
 *      tokenizer.json and data.json (with each file's size and CRC-32C), each atomically.
 *
 * Skipped when `data.json` already records the same build key (parameters, corpus and format
 * version), so repeated builds are cheap.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SHARED, keyedRng } from '@masha/protocol';
import { crc32c } from '@masha/protocol/frames';
import { DATASET_FORMAT, Tokenizer, encodeShard, trainBpe, type DatasetManifest, type ShardFile } from '@masha/protocol/model';
import { CLASSES, CORPUS_LICENSE, CORPUS_PACKAGE, corpusVersion, loadCorpus, type Message } from './corpus.js';
import { writeFileAtomic, writeJsonAtomic } from './files.js';

export interface BuildOptions {
  readonly out: string;
  readonly seed?: number;
  readonly vocabSize?: number;
  readonly maxTokens?: number;
  readonly testFraction?: number;
  readonly trainFiles?: number;
  readonly testFiles?: number;
  /** Messages to use instead of the corpus (tests). */
  readonly messages?: readonly Message[];
  readonly log?: (line: string) => void;
}

export const BUILD_DEFAULTS = { seed: 20240501, vocabSize: 4096, maxTokens: 128, testFraction: 0.2, trainFiles: 32, testFiles: 8 } as const;
const BUILDER_VERSION = 1;

export interface BuildReport {
  readonly manifest: DatasetManifest;
  readonly skipped: boolean;
}

export async function buildDataset(opts: BuildOptions): Promise<BuildReport> {
  const seed = opts.seed ?? BUILD_DEFAULTS.seed;
  const vocabSize = opts.vocabSize ?? BUILD_DEFAULTS.vocabSize;
  const maxTokens = opts.maxTokens ?? BUILD_DEFAULTS.maxTokens;
  const testFraction = opts.testFraction ?? BUILD_DEFAULTS.testFraction;
  const log = opts.log ?? (() => {});
  const source = opts.messages ? 'inline messages' : `${CORPUS_PACKAGE}@${corpusVersion()}`;
  const key = JSON.stringify({
    v: BUILDER_VERSION,
    source,
    seed,
    vocabSize,
    maxTokens,
    testFraction,
    trainFiles: opts.trainFiles ?? BUILD_DEFAULTS.trainFiles,
    testFiles: opts.testFiles ?? BUILD_DEFAULTS.testFiles,
  });
  const name = `spam-assassin ${key}`;
  if (!opts.messages) {
    try {
      const old = JSON.parse(await readFile(join(opts.out, 'data.json'), 'utf8')) as DatasetManifest;
      if (old.name === name) return { manifest: old, skipped: true };
    } catch {
      // No previous build.
    }
  }
  const messages = opts.messages ?? loadCorpus();
  const order = Uint32Array.from(messages.keys());
  keyedRng(seed, 0, 'data-split', SHARED).shuffle(order);
  const nTest = Math.round(testFraction * messages.length);
  const testIdx = order.subarray(0, nTest);
  const trainIdx = order.subarray(nTest);
  let t0 = performance.now();
  const tokData = trainBpe(
    (function* () {
      for (const i of trainIdx) yield messages[i].text;
    })(),
    { vocabSize },
  );
  log(`tokenizer: ${tokData.vocab.length} pieces, ${tokData.merges.length} merges learned in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  t0 = performance.now();
  const tok = new Tokenizer(tokData);
  const encodeSplit = (idx: Uint32Array): { tokens: number[][]; labels: number[] } => {
    const tokens: number[][] = [];
    const labels: number[] = [];
    for (const i of idx) {
      const ids = tok.encode(messages[i].text, maxTokens);
      if (ids.length === 0) continue;
      tokens.push(ids);
      labels.push(messages[i].label);
    }
    return { tokens, labels };
  };
  const train = encodeSplit(trainIdx);
  const test = encodeSplit(testIdx);
  log(`encoded ${train.tokens.length} training and ${test.tokens.length} test messages in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const writeSplit = async (
    split: 'train' | 'test',
    data: { tokens: number[][]; labels: number[] },
    files: number,
  ): Promise<{ count: number; files: ShardFile[] }> => {
    const n = data.tokens.length;
    const out: ShardFile[] = [];
    const parts = Math.max(1, Math.min(files, n));
    for (let f = 0; f < parts; f++) {
      const a = Math.floor((f * n) / parts);
      const b = Math.floor(((f + 1) * n) / parts);
      const offsets = new Uint32Array(b - a + 1);
      for (let i = a; i < b; i++) offsets[i - a + 1] = offsets[i - a] + data.tokens[i].length;
      const tokens = new Uint16Array(offsets[b - a]);
      for (let i = a; i < b; i++) tokens.set(data.tokens[i], offsets[i - a]);
      const bytes = encodeShard({
        vocabSize: tokData.vocab.length,
        classes: CLASSES.length,
        count: b - a,
        offsets,
        tokens,
        labels: Uint8Array.from(data.labels.slice(a, b)),
        first: a,
      });
      const file = `${split}-${String(f).padStart(3, '0')}.bin`;
      await writeFileAtomic(join(opts.out, file), bytes);
      out.push({ file, first: a, count: b - a, bytes: bytes.length, crc32c: crc32c(bytes) });
    }
    return { count: n, files: out };
  };
  const manifest: DatasetManifest = {
    format: DATASET_FORMAT,
    version: 1,
    name,
    source,
    license: CORPUS_LICENSE,
    seed,
    vocabSize: tokData.vocab.length,
    classes: [...CLASSES],
    maxTokens,
    tokenizer: 'tokenizer.json',
    splits: {
      train: await writeSplit('train', train, opts.trainFiles ?? BUILD_DEFAULTS.trainFiles),
      test: await writeSplit('test', test, opts.testFiles ?? BUILD_DEFAULTS.testFiles),
    },
  };
  await writeJsonAtomic(join(opts.out, 'tokenizer.json'), tokData);
  await writeJsonAtomic(join(opts.out, 'data.json'), manifest);
  return { manifest, skipped: false };
}
