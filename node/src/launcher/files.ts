/**
 * Result files of a run, written so that a crash or a kill never leaves a half-written one:
 * write-file-atomic writes a temporary file beside the target, fsyncs it and renames it over the
 * target (a reader sees the old file or the new one, never a mix). Parent directories are created.
 */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import writeFileAtomic from 'write-file-atomic';

/** Non-finite numbers have no JSON form: JSON.stringify writes them as null. */
export function toJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

export async function writeTextFile(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFileAtomic(path, text, { encoding: 'utf8' });
}

export async function writeJsonFile(path: string, value: unknown): Promise<void> {
  await writeTextFile(path, toJson(value));
}
