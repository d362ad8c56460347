/**
 * The relay's identity, kept in a file so that a restarted relay has the same peer id and every
 * `--relay …/p2p/<id>` address handed out keeps working (libp2p otherwise makes a new key at every
 * start). The file is JSON — `{ "type": "Ed25519", "peerId", "privateKey": <base64 protobuf> }` —
 * created on first use with mode 0600 (write-file-atomic), read and checked on every later start.
 */
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import writeFileAtomic from 'write-file-atomic';
import { z } from 'zod';
import { NetError } from './errors.js';

/** Where `masha relay` keeps its key unless told otherwise (relative to the working directory). */
export const DEFAULT_RELAY_KEY_FILE = '.masha/relay.key';

const keyFileSchema = z.strictObject({
  type: z.literal('Ed25519'),
  peerId: z.string().min(1).max(200),
  privateKey: z.base64().max(4096),
});

export interface RelayKey {
  readonly privateKey: PrivateKey;
  readonly peerId: string;
  /** True when the file did not exist and was created now. */
  readonly created: boolean;
}

/** Reads the key in `path`, or creates one there when the file does not exist. */
export async function loadOrCreateRelayKey(path: string): Promise<RelayKey> {
  let text: string | null = null;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new NetError('bad-key', `cannot read the relay key ${path}: ${(e as Error).message}`);
  }
  if (text !== null) return { ...parseRelayKey(text, path), created: false };
  const privateKey = await generateKeyPair('Ed25519');
  const peerId = peerIdFromPrivateKey(privateKey).toString();
  const body = { type: 'Ed25519', peerId, privateKey: Buffer.from(privateKeyToProtobuf(privateKey)).toString('base64') };
  await mkdir(dirname(path), { recursive: true });
  await writeFileAtomic(path, `${JSON.stringify(body, null, 2)}\n`, { mode: 0o600 });
  return { privateKey, peerId, created: true };
}

function parseRelayKey(text: string, path: string): { privateKey: PrivateKey; peerId: string } {
  const bad = (why: string): NetError => new NetError('bad-key', `${path} is not a relay key file (${why}); move it away to make a new key`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw bad('not JSON');
  }
  const r = keyFileSchema.safeParse(json);
  if (!r.success) throw bad(`${r.error.issues[0]?.path.join('.') || 'file'}: ${r.error.issues[0]?.message ?? 'invalid'}`);
  let privateKey: PrivateKey;
  try {
    privateKey = privateKeyFromProtobuf(Buffer.from(r.data.privateKey, 'base64'));
  } catch (e) {
    throw bad(`privateKey: ${(e as Error).message}`);
  }
  const peerId = peerIdFromPrivateKey(privateKey).toString();
  if (peerId !== r.data.peerId) throw bad(`its key is peer ${peerId}, not the ${r.data.peerId} it names`);
  return { privateKey, peerId };
}
