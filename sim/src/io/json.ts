/**
 * JSON and text file writing: pretty-printed, newline-terminated, parent directories created, and
 * atomic (write-file-atomic: a temporary file beside the target, fsynced, renamed over it), so a
 * crash or an interrupted rerun never leaves a half-written result.
 */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import writeFileAtomic from 'write-file-atomic';

/** Non-finite numbers have no JSON form: they are written as null (as JSON.stringify does). */
export function toJson(value: unknown, indent = 2): string {
  return JSON.stringify(value, null, indent) + '\n';
}

export async function writeJsonFile(path: string, value: unknown, indent = 2): Promise<void> {
  await writeTextFile(path, toJson(value, indent));
}

/** Writes text atomically, creating parent directories. */
export async function writeTextFile(path: string, content: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFileAtomic(path, content, { encoding: 'utf8' });
}
