/** Building a dataset directory and reading it back; damaged files are refused, naming the file and field. */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ValidationError } from '@masha/protocol';
import { buildDataset } from '../src/model/build-data.js';
import { messageText } from '../src/model/corpus.js';
import { loadDataset, readManifest, readSplit } from '../src/model/data.js';

let dir: string;
const words = ['free', 'money', 'click', 'meeting', 'patch', 'linux', 'offer', 'kernel', 'list', 'viagra', 'report', 'cash'];
const messages = Array.from({ length: 120 }, (_v, i) => ({
  text: Array.from({ length: 10 + (i % 17) }, (_w, k) => words[(i * 7 + k * 3) % words.length]).join(' '),
  label: i % 3 === 0 ? 1 : 0,
  group: i % 3 === 0 ? 'spam-1' : 'easy-ham-1',
}));

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'masha-data-'));
  await buildDataset({ out: dir, messages, vocabSize: 64, maxTokens: 20, trainFiles: 4, testFiles: 2, seed: 9 });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('dataset build', () => {
  it('writes a fixed split as shard files and reads it back', async () => {
    const d = await loadDataset(dir);
    expect(d.manifest.splits.train.count + d.manifest.splits.test.count).toBe(120);
    expect(d.test.count).toBe(24);
    expect(d.manifest.splits.train.files.map((f) => f.file)).toEqual(['train-000.bin', 'train-001.bin', 'train-002.bin', 'train-003.bin']);
    for (let i = 0; i < d.train.count; i++) expect(d.train.offsets[i + 1] - d.train.offsets[i]).toBeLessThanOrEqual(20);
    // A sub-range reads only the files it overlaps and equals the same slice of the whole split.
    const part = await readSplit(dir, d.manifest, 'train', 30, 50);
    expect(part.count).toBe(20);
    expect(Array.from(part.tokens)).toEqual(Array.from(d.train.tokens.subarray(d.train.offsets[30], d.train.offsets[50])));
    // Rebuilding with the same seed gives identical files.
    const again = await mkdtemp(join(tmpdir(), 'masha-data-'));
    await buildDataset({ out: again, messages, vocabSize: 64, maxTokens: 20, trainFiles: 4, testFiles: 2, seed: 9 });
    expect(await readFile(join(again, 'train-002.bin'))).toEqual(await readFile(join(dir, 'train-002.bin')));
    await rm(again, { recursive: true, force: true });
  });

  it('refuses damaged files, naming file and field', async () => {
    const f = join(dir, 'train-001.bin');
    const good = await readFile(f);
    const bad = Buffer.from(good);
    bad[40] ^= 1;
    await writeFile(f, bad);
    await expect(loadDataset(dir)).rejects.toThrow(/train-001\.bin: crc32c/);
    await writeFile(f, good.subarray(0, good.length - 1));
    await expect(loadDataset(dir)).rejects.toThrow(/train-001\.bin: bytes/);
    await writeFile(f, good);
    const manifest = await readFile(join(dir, 'data.json'), 'utf8');
    await writeFile(join(dir, 'data.json'), manifest.replace('"vocabSize": 64', '"vocabSize": "many"'));
    await expect(readManifest(dir)).rejects.toThrow(/data\.json: vocabSize/);
    await writeFile(join(dir, 'data.json'), '{ not json');
    await expect(readManifest(dir)).rejects.toThrow(ValidationError);
    await writeFile(join(dir, 'data.json'), manifest);
    await expect(readManifest(join(dir, 'nowhere'))).rejects.toThrow(/no dataset at/);
    expect((await loadDataset(dir)).train.count).toBe(96);
  });

  it('extracts subject and body from a raw message, without tags', () => {
    const raw = 'From: a@b\r\nSubject: Hello there\r\nX-Y: z\r\n\r\n<html><style>p{}</style><b>Buy</b> now</html>';
    expect(messageText(raw).replace(/\s+/g, ' ').trim()).toBe('Hello there Buy now');
  });
});
