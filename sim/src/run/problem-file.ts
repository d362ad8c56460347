import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ValidationError, type Problem } from '@masha/protocol';
import { MAX_PROBLEM_FILE_BYTES, problemFromJson } from '../solve.js';

/** A problem file read from disk: its parsed JSON, the problem, and the SHA-256 of its bytes. */
export interface LoadedProblemFile {
  readonly json: unknown;
  readonly problem: Problem;
  readonly sha256: string;
}

/**
 * Reads and validates a problem file (dispatching on its `kind` through solve.ts's loaders) and
 * hashes its bytes (manifests pin problem files by SHA-256).
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
  // One dispatch on `kind` for every command (solve.ts owns it).
  const problem = problemFromJson(json);
  return { json, problem, sha256: createHash('sha256').update(bytes).digest('hex') };
}
