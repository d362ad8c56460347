/**
 * Reading a built dataset directory (data.json, tokenizer.json, *.bin shard files) from disk, with
 * every file checked (manifest schema, sizes and CRC-32C against the manifest, shard contents).
 * A browser volunteer reads the same files over HTTP with the same protocol functions.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { ValidationError } from '@masha/protocol';
import { crc32c } from '@masha/protocol/frames';
import {
  concatTokenSets,
  decodeShard,
  filesForRange,
  parseDatasetManifest,
  sliceTokenSet,
  type DatasetManifest,
  type SplitName,
  type TokenSet,
  type TokenizerData,
} from '@masha/protocol/model';

/** Where `npm run build` writes the default dataset (node/dist/data/spam-assassin). */
export function defaultDataDir(): string {
  return fileURLToPath(new URL('../data/spam-assassin/', import.meta.url));
}

export async function readManifest(dir: string): Promise<DatasetManifest> {
  const path = join(dir, 'data.json');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ValidationError(
      'data',
      code === 'ENOENT' ? `no dataset at ${dir} (data.json missing; run \`npm run build\` to generate the default one)` : `cannot read ${path}: ${String(e)}`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ValidationError('data.json', `not valid JSON: ${(e as Error).message}`);
  }
  return parseDatasetManifest(json, 'data.json');
}

async function readShardFile(
  dir: string,
  f: DatasetManifest['splits']['train']['files'][number],
  vocabSize: number,
  classes: number,
): Promise<ReturnType<typeof decodeShard>> {
  const bytes = new Uint8Array(await readFile(join(dir, f.file)));
  if (bytes.length !== f.bytes) throw new ValidationError(`${f.file}: bytes`, `data.json says ${f.bytes} bytes, the file has ${bytes.length}`);
  if (crc32c(bytes) !== f.crc32c) throw new ValidationError(`${f.file}: crc32c`, 'does not match data.json: the file is damaged or from another build');
  const s = decodeShard(bytes, f.file);
  if (s.count !== f.count || s.first !== f.first)
    throw new ValidationError(
      `${f.file}: header.count`,
      `the file holds examples [${s.first}, ${s.first + s.count}), data.json says [${f.first}, ${f.first + f.count})`,
    );
  if (s.vocabSize !== vocabSize) throw new ValidationError(`${f.file}: header.vocabSize`, `${s.vocabSize} differs from data.json's ${vocabSize}`);
  if (s.classes !== classes) throw new ValidationError(`${f.file}: header.classes`, `${s.classes} differs from data.json's ${classes}`);
  return s;
}

/** Examples [start, end) of a split (default: all), reading only the files that hold them. */
export async function readSplit(dir: string, manifest: DatasetManifest, split: SplitName, start = 0, end?: number): Promise<TokenSet> {
  const s = manifest.splits[split];
  const stop = end ?? s.count;
  const files = filesForRange(s.files, start, stop);
  const shards = [];
  for (const f of files) shards.push(await readShardFile(dir, f, manifest.vocabSize, manifest.classes.length));
  const all = concatTokenSets(shards);
  const first = files[0].first;
  return sliceTokenSet(all, start - first, stop - first);
}

export async function readTokenizer(dir: string, manifest: DatasetManifest): Promise<TokenizerData> {
  const json = JSON.parse(await readFile(join(dir, manifest.tokenizer), 'utf8')) as TokenizerData;
  if (json.version !== 1 || !Array.isArray(json.vocab) || !Array.isArray(json.merges))
    throw new ValidationError(manifest.tokenizer, 'not a Masha tokenizer file (version 1)');
  return json;
}

export interface Dataset {
  readonly dir: string;
  readonly manifest: DatasetManifest;
  readonly train: TokenSet;
  readonly test: TokenSet;
}

export async function loadDataset(dir: string = defaultDataDir()): Promise<Dataset> {
  const manifest = await readManifest(dir);
  return { dir, manifest, train: await readSplit(dir, manifest, 'train'), test: await readSplit(dir, manifest, 'test') };
}
