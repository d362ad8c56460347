/**
 * The cost of trust (issue 14): real Ed25519 signatures (node:crypto, as Node peers sign; the
 * browser worker's @noble/curves for comparison) and SHA-256 replica digests on the default run.
 *
 * - Per commit: the aggregator signs it (SHA-256 of the body + one signature; a succession
 *   statement when the successor list travels), every peer verifies it (the same hash + one
 *   verification) and hashes its replica. Measured on the default run simulated with 4 Ed25519
 *   peers, by timing every Identity call; "per round" is per committed round.
 * - Against the round time: the default run's ms per committed round with 4 Node volunteers on
 *   loopback (README: 11.5–14.5 ms per round; the 11.5 ms end is the baseline, so the ratio is an
 *   upper bound) — the target is ≤ 5 %.
 * - Bytes added per commit: the signature block, the longer (SHA-256) parent and new digests, and
 *   the signed succession statement and certificate chain sent every 16th commit, amortised.
 */
import { createPrivateKey, createPublicKey, sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { defaultManifest, runFromManifest, type PeerId } from '@masha/protocol';
import { encodeCommit, replicaDigest } from '@masha/protocol/engine';
import type { Identity } from '@masha/protocol/ports';
import { Ed25519Identity, ed25519KeyOfPeerId, ed25519PublicKey, encodeChain, LINK_SUCC, peerIdOfEd25519Key } from '@masha/protocol/trust';
import { simulate } from '../run/simulate.js';
import { measure, progress, resultRow, type BenchResult, type Suite } from './harness.js';

/** The Node peers' round time on the default run (README, 4 Node volunteers on loopback): the lower end. */
export const NODE_ROUND_MS = 11.5;

const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64url');

class CryptoIdentity implements Identity {
  private readonly key: KeyObject;
  private static readonly keys = new Map<string, KeyObject>();
  constructor(secret: Uint8Array) {
    this.key = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: b64(secret), x: b64(ed25519PublicKey(secret)) }, format: 'jwk' });
  }
  sign(m: Uint8Array): Uint8Array {
    return new Uint8Array(cryptoSign(null, m, this.key));
  }
  verify(signer: PeerId, m: Uint8Array, s: Uint8Array): boolean {
    let k = CryptoIdentity.keys.get(signer);
    if (k === undefined) {
      const raw = ed25519KeyOfPeerId(signer);
      if (raw === null) return false;
      k = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64(raw) }, format: 'jwk' });
      CryptoIdentity.keys.set(signer, k);
    }
    return s.length === 64 && cryptoVerify(null, m, k, s);
  }
}

/** An identity that times its calls. */
class Timed implements Identity {
  static signMs = 0;
  static verifyMs = 0;
  static signs = 0;
  static verifies = 0;
  constructor(private readonly inner: Identity) {}
  sign(m: Uint8Array): Uint8Array {
    const t = performance.now();
    const s = this.inner.sign(m);
    Timed.signMs += performance.now() - t;
    Timed.signs++;
    return s;
  }
  verify(p: PeerId, m: Uint8Array, s: Uint8Array): boolean {
    const t = performance.now();
    const ok = this.inner.verify(p, m, s);
    Timed.verifyMs += performance.now() - t;
    Timed.verifies++;
    return ok;
  }
}

export const trustSuite: Suite = {
  name: 'trust',
  async run(include) {
    const rows: BenchResult[] = [];
    const manifest = defaultManifest();
    const run = runFromManifest(manifest);
    const secrets = [1, 2, 3, 4].map((i) => new Uint8Array(32).fill(i));
    const ids = secrets.map((s) => peerIdOfEd25519Key(ed25519PublicKey(s)));
    const byId = new Map(ids.map((id, i) => [id, secrets[i]]));
    const statement = new Uint8Array(150).fill(5);

    if (include('trust: Ed25519')) {
      progress('trust: Ed25519 sign/verify');
      const node = new CryptoIdentity(secrets[0]);
      const noble = new Ed25519Identity(secrets[0]);
      const sig = node.sign(statement);
      const nodeSign = measure(() => node.sign(statement)).median;
      const nodeVerify = measure(() => node.verify(ids[0], statement, sig)).median;
      // @noble/curves needs a long warm-up (its first calls build tables and get optimised).
      const nobleSign = measure(() => noble.sign(statement), { minTime: 0.5, warmup: 1.5 }).median;
      const nobleVerify = measure(() => noble.verify(ids[0], statement, sig), { minTime: 0.5, warmup: 1.5 }).median;
      rows.push(
        resultRow('trust: Ed25519 sign, node:crypto (Node peers)', nodeSign * 1e6, 'µs', { name: '@noble/curves (browser worker)', value: nobleSign * 1e6 }),
      );
      rows.push(
        resultRow('trust: Ed25519 verify, node:crypto (Node peers)', nodeVerify * 1e6, 'µs', {
          name: '@noble/curves (browser worker)',
          value: nobleVerify * 1e6,
        }),
      );
    }

    if (include('trust: SHA-256 replica digest')) {
      progress('trust: replica digest');
      const replica = run.ctx.method.initReplica(run.ctx.z0);
      const names = Object.keys(replica.vectors).sort();
      const d = measure(() => replicaDigest(replica, 7, '', names)).median;
      rows.push(
        resultRow('trust: SHA-256 replica digest per round per peer, default run', d * 1e6, 'µs', {
          name: 'Node round time (ms → µs)',
          value: NODE_ROUND_MS * 1000,
        }),
      );
    }

    if (include('trust: per round') || include('trust: bytes')) {
      progress('trust: the default run, 4 Ed25519 peers');
      Timed.signMs = Timed.verifyMs = Timed.signs = Timed.verifies = 0;
      const r = simulate({
        manifest,
        trace: { events: ids.map((peer) => ({ t: 0, event: 'join' as const, peer })), lines: ids.map(() => 0) },
        identity: (id) => new Timed(new CryptoIdentity(byId.get(id) as Uint8Array)),
      });
      const rounds = r.summary.committedRounds;
      // Signatures: the aggregator's (commits, successions, the claim). Verifications: the simulator
      // hands one broadcast to every recipient as one object and checks its signature once, so the
      // count is per swarm; a real peer checks every commit it applies itself — one verification
      // (plus the body's SHA-256, inside the timed call) per committed round per device.
      const signPerRound = Timed.signMs / rounds;
      const perVerify = Timed.verifyMs / Math.max(1, Timed.verifies);
      if (include('trust: per round')) {
        rows.push(
          resultRow('trust: signing per committed round (aggregator), default run', signPerRound * 1000, 'µs', {
            name: 'Node round time (ms → µs)',
            value: NODE_ROUND_MS * 1000,
          }),
        );
        rows.push(
          resultRow('trust: verification per committed round per device, default run', perVerify * 1000, 'µs', {
            name: 'Node round time (ms → µs)',
            value: NODE_ROUND_MS * 1000,
          }),
        );
        rows.push(resultRow('trust: signatures per committed round (aggregator)', Timed.signs / rounds, 'signatures'));
        rows.push(resultRow('trust: default run with Ed25519 signatures reached its target', r.summary.reached ? 1 : 0, 'bool'));
      }
      if (include('trust: bytes')) {
        const agg = ids[0];
        const body = (trust: boolean) =>
          encodeCommit(
            {
              iteration: 10,
              phase: 'diff',
              flags: 0,
              parentDigest: new Uint8Array(32),
              digest: new Uint8Array(32),
              included: run.ctx.limits.allShards,
              payload: new Uint8Array(400),
              successors: trust ? ids.slice(1) : [],
              succession: trust ? { members: 4, sig: new Uint8Array(64) } : null,
              chain: trust
                ? encodeChain([
                    { type: LINK_SUCC, epoch: 2, claimant: agg, signer: ids[1], members: 4, successors: [agg, ids[2], ids[3]], sig: new Uint8Array(64) },
                  ])
                : null,
              next: null,
            },
            run.ctx.shards,
            () => ({ signer: agg, sig: new Uint8Array(64) }),
          );
        const plain = body(false);
        const sigBlock = 1 + 64; // the signature (the signer is the commit's sender)
        const digests = 2 * 16; // SHA-256 digests (32 B) where the old fingerprint had 16 B
        const successionAndChain = body(true).length - plain.length - (ids.length - 1) * (1 + agg.length); // the successor ids travelled before too
        const added = sigBlock + digests + successionAndChain / 16;
        rows.push(
          resultRow('trust: bytes added per commit (signature, SHA-256 digests, succession and chain every 16th)', added, 'bytes', {
            name: 'commit body bytes of the default run',
            value: plain.length - sigBlock,
          }),
        );
      }
    }
    return rows;
  },
};
