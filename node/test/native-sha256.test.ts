/**
 * The native SHA-256 a Node peer installs for the engine gives the same bytes as the JavaScript
 * one: frame and body hashes of every length around the block size, and replica digests (which
 * commits and heartbeats carry, so a Node peer and a browser tab must agree bit for bit).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { replicaDigest, setSha256, sha256Of } from '@masha/protocol/engine';
import { keyedRng } from '@masha/protocol/rng';
import type { ReplicaState } from '@masha/protocol';
import type { Vec } from '@masha/protocol/vec';
import { installNativeSha256 } from '../src/peer/native-sha256.js';

afterEach(() => setSha256(null));

function bytes(n: number, seed: number): Uint8Array {
  const rng = keyedRng(seed, 0, 'sha256-test', 0);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.nextU32() & 0xff;
  return out;
}

describe('native SHA-256 for the engine', () => {
  it('hashes like @noble/hashes, into plain 32-byte arrays', () => {
    for (const n of [0, 1, 55, 56, 63, 64, 65, 1000, 65_536 + 17]) {
      const data = bytes(n, n + 1);
      setSha256(null);
      const js = sha256Of(data);
      installNativeSha256();
      const native = sha256Of(data);
      expect(native).toEqual(js);
      expect(native.constructor).toBe(Uint8Array);
      expect(native.byteLength).toBe(32);
      expect(native.buffer.byteLength).toBe(32);
    }
  });

  it('gives the same replica digests', () => {
    const f64 = new Float64Array(100_003);
    const f32 = new Float32Array(4_097);
    const rng = keyedRng(7, 0, 'sha256-replica', 0);
    for (let i = 0; i < f64.length; i++) f64[i] = rng.nextFloat53() - 0.5;
    for (let i = 0; i < f32.length; i++) f32[i] = rng.nextFloat();
    const replica: ReplicaState<Vec> = { iteration: 12, initialized: true, vectors: { w: f64, z: f32 } };
    const names = ['w', 'z'];
    setSha256(null);
    const js = replicaDigest(replica, 25, 'diff', names);
    installNativeSha256();
    const native = replicaDigest(replica, 25, 'diff', names);
    expect(native).toEqual(js);
    // And it depends on the contents: one changed coordinate changes it.
    f64[50_000] += 1e-9;
    expect(replicaDigest(replica, 25, 'diff', names)).not.toEqual(native);
  });
});
