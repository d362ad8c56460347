/** JSON file writing: pretty-printed, newline-terminated, parent directories created. */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Non-finite numbers have no JSON form: they are written as null (as JSON.stringify does). */
export function toJson(value: unknown, indent = 2): string {
  return JSON.stringify(value, null, indent) + '\n';
}

export async function writeJsonFile(path: string, value: unknown, indent = 2): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, toJson(value, indent));
}

/** Writes text, creating parent directories. */
export async function writeTextFile(path: string, content: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, content);
}
