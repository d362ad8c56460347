/**
 * The launcher's key: an Ed25519 key kept in a file (`.masha/launcher.key` under the working
 * directory unless told otherwise), created on first use. Its public half goes into the manifest
 * (`launcher`), so the run id binds it, and it signs the run's announcements: volunteers take the
 * announcement — and the end of the run — only from it. The file is JSON
 * `{ "type": "Ed25519", "publicKey": <hex>, "secretKey": <base64 seed> }`, mode 0600, written
 * atomically; a file that is not such a key is refused (exit 2), never overwritten.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseManifest, type Manifest } from '@masha/protocol';
import { ed25519PublicKey } from '@masha/protocol/trust';
import writeFileAtomic from 'write-file-atomic';
import { z } from 'zod';
import { NetError } from '../net/errors.js';

export const DEFAULT_LAUNCHER_KEY_FILE = '.masha/launcher.key';

const keyFileSchema = z.strictObject({
  type: z.literal('Ed25519'),
  publicKey: z.string().regex(/^[0-9a-f]{64}$/),
  secretKey: z.base64().max(64),
});

export interface LauncherKey {
  readonly path: string;
  /** 32-byte Ed25519 seed. */
  readonly secretKey: Uint8Array;
  /** 64 hex digits (what the manifest's `launcher` holds). */
  readonly publicKey: string;
  /** True when the file did not exist and was created now. */
  readonly created: boolean;
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

/** Reads the launcher key in `path`, or creates one there when the file does not exist. */
export function loadOrCreateLauncherKey(path: string = DEFAULT_LAUNCHER_KEY_FILE): LauncherKey {
  let text: string | null = null;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new NetError('bad-key', `cannot read the launcher key ${path}: ${(e as Error).message}`);
  }
  if (text !== null) return { ...parseLauncherKey(text, path), path, created: false };
  const { privateKey } = generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' });
  const secretKey = new Uint8Array(Buffer.from(jwk.d as string, 'base64url'));
  const publicKey = hex(ed25519PublicKey(secretKey));
  mkdirSync(dirname(path), { recursive: true });
  writeFileAtomic.sync(path, `${JSON.stringify({ type: 'Ed25519', publicKey, secretKey: Buffer.from(secretKey).toString('base64') }, null, 2)}\n`, {
    mode: 0o600,
  });
  return { path, secretKey, publicKey, created: true };
}

function parseLauncherKey(text: string, path: string): { secretKey: Uint8Array; publicKey: string } {
  const bad = (why: string): NetError => new NetError('bad-key', `${path} is not a launcher key file (${why}); move it away to make a new key`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw bad('not JSON');
  }
  const r = keyFileSchema.safeParse(json);
  if (!r.success) throw bad(`${r.error.issues[0]?.path.join('.') || 'file'}: ${r.error.issues[0]?.message ?? 'invalid'}`);
  const secretKey = new Uint8Array(Buffer.from(r.data.secretKey, 'base64'));
  if (secretKey.length !== 32) throw bad('secretKey: must be 32 bytes');
  const publicKey = hex(ed25519PublicKey(secretKey));
  if (publicKey !== r.data.publicKey) throw bad(`its secret key belongs to public key ${publicKey}, not the ${r.data.publicKey} it names`);
  return { secretKey, publicKey };
}

/**
 * The manifest with the launcher's key filled in (`launcher`): the run that key publishes. A
 * manifest that names another key is refused.
 */
export function keyedManifest(manifest: Manifest, key: Pick<LauncherKey, 'publicKey' | 'path'>): Manifest {
  if (manifest.launcher !== undefined) {
    if (manifest.launcher !== key.publicKey) {
      throw new NetError(
        'bad-key',
        `the manifest names launcher key ${manifest.launcher.slice(0, 16)}…, but ${key.path} holds ${key.publicKey.slice(0, 16)}… (--key FILE picks another key file)`,
      );
    }
    return manifest;
  }
  return parseManifest({ ...manifest, launcher: key.publicKey });
}
