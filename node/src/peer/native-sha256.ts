/**
 * Node's native SHA-256 for the engine (protocol/src/engine/sha256.ts): replica digests after
 * every commit, commit body hashes and tree frame hashes then run in node:crypto (~10× the
 * JavaScript hash; at d = 10^6 the replica digest alone was the largest CPU cost of applying a
 * commit on the loopback swarm). Installed by the `masha` entry point and by every peer driver;
 * idempotent. The digests are the same bytes either way.
 */
import { createHash } from 'node:crypto';
import { setSha256 } from '@masha/protocol/engine';

export function installNativeSha256(): void {
  setSha256(() => createHash('sha256'));
}
