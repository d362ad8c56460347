import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { bilinearFromJson, quadraticFromJson, ValidationError, type Problem } from '@masha/protocol';

/** A problem file read from disk: its parsed JSON, the problem, and the SHA-256 of its bytes. */
export interface LoadedProblemFile {
  readonly json: unknown;
  readonly problem: Problem;
  readonly sha256: string;
}

/** Largest problem file we read (bytes). */
export const MAX_PROBLEM_FILE_BYTES = 1 << 30;

/**
 * Reads and validates a problem file, dispatching on its `kind` (`bilinear` | `quadratic`).
 * Throws ValidationError naming the field (or `problem` for unreadable / non-JSON files).
 */
export function loadProblemFile(path: string): LoadedProblemFile {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new ValidationError('problem', `cannot read ${path}: ${(e as Error).message}`);
  }
  if (bytes.length > MAX_PROBLEM_FILE_BYTES) throw new ValidationError('problem', `${path} is larger than ${MAX_PROBLEM_FILE_BYTES} bytes`);
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new ValidationError('problem', `${path} is not valid JSON (${(e as Error).message})`);
  }
  const kind = typeof json === 'object' && json !== null ? (json as { kind?: unknown }).kind : undefined;
  let problem: Problem;
  if (kind === 'bilinear') problem = bilinearFromJson(json);
  else if (kind === 'quadratic') problem = quadraticFromJson(json);
  else throw new ValidationError('kind', `expected "bilinear" or "quadratic", got ${JSON.stringify(kind)}`);
  return { json, problem, sha256: createHash('sha256').update(bytes).digest('hex') };
}
