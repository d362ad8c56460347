/** Reading a manifest file for `masha launch`, with errors that name the file or the field. */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseManifest, ValidationError, type Manifest } from '@masha/protocol';
import { pinProblemFile } from '@masha/protocol/swarm';

export interface LoadedManifest {
  readonly manifest: Manifest;
  /** Problem file texts keyed by the path the manifest uses. */
  readonly files: Record<string, string>;
}

function readText(path: string, field: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new ValidationError(field, `cannot read ${path}: ${(e as Error).message}`);
  }
}

/** Reads, parses and validates a manifest; a problem file it names is read relative to it and pinned by SHA-256. */
export function loadManifestFile(path: string): LoadedManifest {
  const abs = resolve(path);
  const text = readText(abs, 'manifest');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ValidationError('manifest', `${path} is not valid JSON (${(e as Error).message})`);
  }
  let manifest: Manifest;
  try {
    manifest = parseManifest(json);
  } catch (e) {
    if (e instanceof ValidationError) {
      const detail = e.field ? e.message.slice(e.field.length + 2) : e.message;
      throw new ValidationError(e.field ? `manifest ${path}: ${e.field}` : `manifest ${path}`, detail);
    }
    throw e;
  }
  return pinProblemFile(manifest, (p) => readText(resolve(dirname(abs), p), 'problem.path'));
}
