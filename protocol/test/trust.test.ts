/**
 * Trust primitives (issue 14, identity and authority): identities, epoch certificates and their
 * rules, total epoch arithmetic, join tokens and admission, launcher-signed run announcements.
 */
import { describe, expect, it } from 'vitest';
import { parseManifest, runIdOf } from '@masha/protocol';
import { AnnouncementReader, encodeAnnouncement } from '../src/swarm/announce.js';
import {
  commitStatement,
  decodeChain,
  encodeChain,
  EpochBook,
  genesisStatement,
  LINK_GENESIS,
  LINK_QUORUM,
  LINK_SUCC,
  MAX_EPOCH,
  nextEpoch,
  quorumFor,
  successionStatement,
  suspectStatement,
  tokenFromText,
  tokenToText,
  type Link,
} from '../src/trust/certs.js';
import { Ed25519Identity, ed25519PublicKey, signToken, verifyToken } from '../src/trust/ed25519.js';
import { ed25519KeyOfPeerId, peerIdOfEd25519Key } from '../src/trust/peer-key.js';
import { SimKeyring } from '../src/trust/sim-keyring.js';
import { runFromManifest } from '../src/manifest/build.js';
import { TestSwarm } from './engine-driver.js';

const RUN = 'cd'.repeat(32);
const keyring = new SimKeyring('trust-test');
const id = (p: string) => keyring.signerOf(p);

function genesis(p: string): Link {
  return { type: LINK_GENESIS, epoch: 1, claimant: p, sig: id(p).sign(genesisStatement(RUN, p)) };
}
function succ(epoch: number, signer: string, claimant: string, successors = [claimant], members = 5): Link {
  return {
    type: LINK_SUCC,
    epoch,
    claimant,
    signer,
    members,
    successors,
    sig: id(signer).sign(successionStatement(RUN, epoch - 1, signer, members, successors)),
  };
}
function quorum(epoch: number, predecessor: string, claimant: string, attesters: string[], members: number | null = null): Link {
  return {
    type: LINK_QUORUM,
    epoch,
    claimant,
    predecessor,
    succession:
      members === null ? null : { members, successors: ['x'], sig: id(predecessor).sign(successionStatement(RUN, epoch - 1, predecessor, members, ['x'])) },
    attestations: attesters.map((a) => ({ attester: a, sig: id(a).sign(suspectStatement(RUN, epoch - 1, predecessor)) })),
  };
}

describe('identities', () => {
  it('Ed25519: a libp2p peer id names its key; signatures check by peer id; others cannot sign for it', () => {
    const secret = new Uint8Array(32).fill(7);
    const me = new Ed25519Identity(secret);
    const peer = peerIdOfEd25519Key(ed25519PublicKey(secret));
    expect(peer.startsWith('12D3KooW')).toBe(true);
    expect(ed25519KeyOfPeerId(peer)).toEqual(ed25519PublicKey(secret));
    const msg = new TextEncoder().encode('commit');
    const sig = me.sign(msg);
    expect(me.verify(peer, msg, sig)).toBe(true);
    expect(me.verify(peer, new TextEncoder().encode('commiT'), sig)).toBe(false);
    const other = peerIdOfEd25519Key(ed25519PublicKey(new Uint8Array(32).fill(8)));
    expect(me.verify(other, msg, sig)).toBe(false);
    expect(me.verify('p1', msg, sig)).toBe(false); // not a key-naming id
    expect(ed25519KeyOfPeerId('12D3KooWnotbase58!')).toBeNull();
  });

  it('the simulator keyring: each signer signs as itself only', () => {
    const msg = new Uint8Array([1, 2, 3]);
    const a = id('a').sign(msg);
    expect(id('b').verify('a', msg, a)).toBe(true);
    expect(id('b').verify('b', msg, a)).toBe(false);
    expect(new SimKeyring('another run').signerOf('x').verify('a', msg, a)).toBe(false);
  });
});

describe('epoch certificates', () => {
  it('GENESIS certifies epoch 1 only; SUCC needs the followed predecessor naming someone else', () => {
    const book = new EpochBook(RUN, id('v'));
    expect(book.verify([genesis('a')])).toEqual({ epoch: 1, claimant: 'a' });
    expect(book.verify([{ ...genesis('b'), epoch: 2 }])).toBeNull();
    book.follow(1, 'a');
    expect(book.verify([succ(2, 'a', 'b')])).toEqual({ epoch: 2, claimant: 'b' });
    // Naming itself, or signed by someone this peer did not follow in epoch 1 (even if certified there).
    expect(book.verify([succ(2, 'a', 'a')])).toBeNull();
    book.verify([genesis('c')]);
    expect(book.isCertified(1, 'c')).toBe(true);
    expect(book.verify([succ(2, 'c', 'd')])).toBeNull();
    // A signature by another key, or a claimant not in the list.
    expect(book.verify([{ ...succ(2, 'a', 'e'), sig: id('e').sign(successionStatement(RUN, 1, 'a', 5, ['e'])) } as Link])).toBeNull();
    expect(book.verify([{ ...succ(2, 'a', 'f'), claimant: 'g' }])).toBeNull();
  });

  it('a resume opens the one epoch above the checkpoint to GENESIS claims, nothing else', () => {
    const resumedGenesis = (p: string, epoch: number, signedFor = epoch): Link => ({
      type: LINK_GENESIS,
      epoch,
      claimant: p,
      sig: id(p).sign(genesisStatement(RUN, p, signedFor)),
    });
    const book = new EpochBook(RUN, id('v'));
    // Without the launcher's resume point, epoch 8 cannot be claimed from nothing.
    expect(book.verify([resumedGenesis('a', 8)])).toBeNull();
    book.open(7);
    expect(book.isOpen(8)).toBe(true);
    expect(book.verify([resumedGenesis('a', 8)])).toEqual({ epoch: 8, claimant: 'a' });
    // Only e + 1: not 9, not 7; a signature over another epoch does not count.
    expect(book.verify([resumedGenesis('b', 9)])).toBeNull();
    expect(book.verify([resumedGenesis('b', 7)])).toBeNull();
    expect(book.verify([resumedGenesis('c', 8, 1)])).toBeNull();
    // Above it, the ordinary rules: a SUCC from the followed claimant of 8.
    book.follow(8, 'a');
    expect(book.verify([succ(9, 'a', 'd')])).toEqual({ epoch: 9, claimant: 'd' });
    // Epoch arithmetic stays total: opening above MAX_EPOCH − 1 opens nothing.
    book.open(MAX_EPOCH);
    expect(book.isOpen(MAX_EPOCH + 1)).toBe(false);
  });

  it('no jumps: a chain must reach down to an epoch the verifier holds', () => {
    const book = new EpochBook(RUN, id('v'));
    book.verify([genesis('a')]);
    book.follow(1, 'a');
    // 1 → 3 without epoch 2: refused; with the link for 2 in the chain: accepted.
    expect(book.verify([succ(3, 'b', 'c')])).toBeNull();
    expect(book.verify([succ(3, 'b', 'c'), succ(2, 'a', 'b')])).toEqual({ epoch: 3, claimant: 'c' });
    // Out of order, or more than MAX_CHAIN links.
    expect(book.verify([succ(2, 'a', 'b'), succ(3, 'b', 'c')])).toBeNull();
    expect(book.verify([succ(6, 'f', 'g'), succ(5, 'e', 'f'), succ(4, 'd', 'e'), succ(3, 'c', 'd'), succ(2, 'a', 'c')])).toBeNull();
    expect(decodeChain(encodeChain([succ(3, 'b', 'c'), succ(2, 'a', 'b')]))).toEqual([succ(3, 'b', 'c'), succ(2, 'a', 'b')]);
  });

  it('QUORUM: Q = clamp(⌊n/2⌋ + 1, 2, 8) distinct attesters other than the predecessor; distrust voids SUCC', () => {
    expect([0, 1, 3, 4, 10, 100].map(quorumFor)).toEqual([2, 2, 2, 3, 6, 8]);
    const book = new EpochBook(RUN, id('v'));
    book.verify([genesis('a')]);
    book.follow(1, 'a');
    expect(book.verify([quorum(2, 'a', 'b', ['b'])])).toBeNull();
    expect(book.verify([quorum(2, 'a', 'b', ['b', 'a', 'b'])])).toBeNull(); // the predecessor and duplicates do not count
    expect(book.verify([quorum(2, 'a', 'b', ['b', 'c'], 10)])).toBeNull(); // n = 10 → Q = 6
    expect(book.verify([quorum(2, 'a', 'b', ['b', 'c', 'd', 'e', 'f', 'g'], 10)])).toEqual({ epoch: 2, claimant: 'b' });
    // Attestations signed by one key in the names of others.
    const forged = quorum(2, 'a', 'x', ['x', 'y']) as Extract<Link, { type: typeof LINK_QUORUM }>;
    const bad = { ...forged, attestations: forged.attestations.map((a) => ({ ...a, sig: id('x').sign(suspectStatement(RUN, 1, 'a')) })) };
    expect(book.verify([bad])).toBeNull();
    book.distrusted.add('a');
    expect(book.verify([succ(2, 'a', 'z')])).toBeNull();
  });

  it('epoch arithmetic is total: nothing past MAX_EPOCH is certified, nextEpoch saturates', () => {
    expect(nextEpoch(5)).toBe(6);
    expect(nextEpoch(MAX_EPOCH)).toBe(MAX_EPOCH + 1);
    expect(nextEpoch(0xffffffff)).toBe(MAX_EPOCH + 1);
    expect(MAX_EPOCH + 1).toBeLessThanOrEqual(0xffffffff);
    const book = new EpochBook(RUN, id('v'));
    book.anchor([succ(MAX_EPOCH, 'a', 'b')]);
    expect(book.isCertified(MAX_EPOCH, 'b')).toBe(true);
    expect(book.verify([succ(MAX_EPOCH + 1, 'b', 'c')])).toBeNull();
    expect(book.verify([succ(0xffffffff + 1, 'b', 'c')])).toBeNull();
  });

  it('a peer at MAX_EPOCH never claims past it (and nothing throws)', () => {
    const manifest = parseManifest({
      problem: { kind: 'bilinear', d: 6, M: 3, seed: 1 },
      method: { name: 'masha1', gamma: 0.5 },
      compressors: { device: 'randk:0.5' },
      stop: { iterations: 50 },
      network: { heartbeatMs: 50, leaseMs: 200, roundDeadlineMs: 100 },
    });
    const swarm = new TestSwarm(runFromManifest(manifest));
    swarm.add('q1', 0);
    swarm.add('q2', 0);
    swarm.run(1_000);
    // Hand both peers a certified aggregator at MAX_EPOCH, then let it go silent.
    const sig = swarm.keyring.signerOf('ghost-prev').sign(successionStatement(swarm.ctx.runId, MAX_EPOCH - 1, 'ghost-prev', 3, ['ghost']));
    const chain = encodeChain([{ type: LINK_SUCC, epoch: MAX_EPOCH, claimant: 'ghost', signer: 'ghost-prev', members: 3, successors: ['ghost'], sig }]);
    for (const n of swarm.alive()) n.host.anchor(chain);
    expect(() => swarm.run(20_000)).not.toThrow();
    for (const n of swarm.alive()) expect(n.peer.snapshot().epoch).toBeLessThanOrEqual(MAX_EPOCH);
  });
});

describe('admission', () => {
  it('join tokens: signed by the launcher, for one run, until they expire', () => {
    const secret = new Uint8Array(32).fill(3);
    const key = ed25519PublicKey(secret);
    const t = signToken(secret, RUN, 2_000);
    expect(tokenFromText(tokenToText(t))).toEqual(t);
    expect(verifyToken(key, RUN, t, 1_000)).toBe(true);
    expect(verifyToken(key, RUN, t, 3_000)).toBe(false);
    expect(verifyToken(key, 'ab'.repeat(32), t, 1_000)).toBe(false);
    expect(verifyToken(ed25519PublicKey(new Uint8Array(32).fill(4)), RUN, t, 1_000)).toBe(false);
    expect(tokenFromText('not a token!')).toBeNull();
  });

  it('allowlist and member caps: peers outside are never members, never followed; the run completes', () => {
    const base = {
      problem: { kind: 'bilinear', d: 6, M: 4, seed: 2 },
      method: { name: 'masha1', gamma: 0.5 },
      compressors: { device: 'randk:0.5' },
      stop: { iterations: 3000, target: 1e-6 },
      network: { heartbeatMs: 50, leaseMs: 200, roundDeadlineMs: 100 },
    } as const;
    const manifest = parseManifest({ ...base, admission: { policy: 'allowlist', peers: ['a1', 'a2', 'a3'], maxMembers: 3 } });
    const swarm = new TestSwarm(runFromManifest(manifest));
    for (const p of ['a1', 'a2', 'a3', 'x1', 'x2']) swarm.add(p, 0);
    swarm.run(60_000, () => ['a1', 'a2', 'a3'].every((p) => swarm.node(p).done !== null));
    for (const p of ['a1', 'a2', 'a3']) expect(swarm.node(p).done).toBe('target');
    // The listed peers followed listed aggregators only, and theirs never admitted x1, x2 (whatever
    // those two do among themselves).
    for (const p of ['a1', 'a2', 'a3']) for (const e of swarm.node(p).elections) expect(e.aggregator).toMatch(/^a/);
    const refused = ['a1', 'a2', 'a3'].reduce((n, p) => n + (swarm.node(p).peer.counters['not-admitted'] ?? 0), 0);
    expect(refused).toBeGreaterThan(0);
    expect(() => parseManifest({ ...base, admission: { policy: 'tokens' } })).toThrow(/launcher/);
    expect(() => parseManifest({ ...base, admission: { policy: 'allowlist' } })).toThrow(/admission\.peers/);
  });
});

describe('member caps', () => {
  it('maxMembers: the aggregator admits no more; the run completes with those it has', () => {
    const manifest = parseManifest({
      problem: { kind: 'bilinear', d: 6, M: 6, seed: 2 },
      method: { name: 'masha1', gamma: 0.5 },
      compressors: { device: 'randk:0.5' },
      stop: { iterations: 3000, target: 1e-6 },
      network: { heartbeatMs: 50, leaseMs: 200, roundDeadlineMs: 100 },
      admission: { maxMembers: 2 },
    });
    const swarm = new TestSwarm(runFromManifest(manifest));
    const ids = ['c1', 'c2', 'c3', 'c4', 'c5'];
    for (const p of ids) swarm.add(p, 0);
    swarm.run(60_000, () => swarm.alive().every((n) => n.done !== null));
    for (const p of ids) expect(swarm.node(p).done).toBe('target');
    // At most the aggregator and two members ever held shards in one epoch's assignment.
    const agg = swarm.aggregators()[0];
    const holders = new Set(
      swarm
        .alive()
        .filter((n) => n.peer.snapshot().held.length > 0)
        .map((n) => n.id),
    );
    expect(holders.size).toBeLessThanOrEqual(3);
    expect(agg.peer.counters['not-admitted'] ?? 0).toBeGreaterThan(0);
  });
});

describe('launcher-signed run announcements', () => {
  const secret = new Uint8Array(32).fill(9);
  const key = Buffer.from(ed25519PublicKey(secret)).toString('hex');
  const manifest = parseManifest({ problem: { kind: 'bilinear', d: 20, M: 4 }, method: { name: 'masha1' }, stop: { iterations: 50 }, launcher: key });
  const runId = runIdOf(manifest);
  let clock = 1_000_000;
  const signer = (s = secret) => ({ secretKey: s, now: () => clock++, anchor: () => new Uint8Array([1, 2, 3]) });
  const feed = (r: AnnouncementReader, frames: Uint8Array[], from = 'L') => {
    let out = null;
    for (const f of frames) out = r.accept(f, 0, from) ?? out;
    return out;
  };

  it('only the launcher can announce or end its run; replays and expired announcements are refused', () => {
    const reader = new AnnouncementReader(() => clock);
    const open = feed(reader, encodeAnnouncement({ manifest, files: {}, state: 'open', startedAt: 1 }, 'L', 1, 65536, signer()));
    expect(open?.signed).toBe(true);
    expect(open?.runId).toBe(runId);
    expect(open?.anchor).toEqual(new Uint8Array([1, 2, 3]));
    // A forged "finished" signed by another key, from anyone: refused.
    const other = new Uint8Array(32).fill(10);
    expect(feed(reader, encodeAnnouncement({ manifest, files: {}, state: 'finished', startedAt: 1 }, 'X', 2, 65536, signer(other)), 'X')).toBeNull();
    expect(reader.rejected['bad-signature']).toBe(1);
    // Unsigned: refused.
    expect(() => encodeAnnouncement({ manifest, files: {}, state: 'finished', startedAt: 1 }, 'X', 3, 65536)).toThrow(/signed/);
    // A genuine one replayed later (same seq), or one past its expiry: refused.
    const genuine = encodeAnnouncement({ manifest, files: {}, state: 'finished', startedAt: 1 }, 'L', 4, 65536, signer());
    expect(feed(reader, genuine)?.state).toBe('finished');
    expect(
      feed(
        reader,
        genuine.map((f) => f.slice()),
      ),
    ).toBeNull();
    expect(reader.rejected.replayed).toBe(1);
    const late = new AnnouncementReader(() => clock + 10 * 60_000);
    expect(feed(late, encodeAnnouncement({ manifest, files: {}, state: 'open', startedAt: 1 }, 'L', 5, 65536, signer()))).toBeNull();
    expect(late.rejected.expired).toBe(1);
    // The run id binds the key: the same run with another launcher key is another run.
    expect(runIdOf(parseManifest({ ...manifest, launcher: Buffer.from(ed25519PublicKey(other)).toString('hex') }))).not.toBe(runId);
  });

  it('a commit statement binds run, epoch, round, both digests and the body', () => {
    const d = (x: number) => new Uint8Array(32).fill(x);
    const a = commitStatement(RUN, 3, 7, d(1), d(2), d(3));
    for (const b of [
      commitStatement(RUN, 4, 7, d(1), d(2), d(3)),
      commitStatement(RUN, 3, 8, d(1), d(2), d(3)),
      commitStatement(RUN, 3, 7, d(9), d(2), d(3)),
      commitStatement(RUN, 3, 7, d(1), d(9), d(3)),
      commitStatement(RUN, 3, 7, d(1), d(2), d(9)),
      commitStatement('ef'.repeat(32), 3, 7, d(1), d(2), d(3)),
    ]) {
      expect(Buffer.from(b).equals(Buffer.from(a))).toBe(false);
    }
  });
});
