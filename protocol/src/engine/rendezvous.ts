/**
 * Rendezvous (highest-random-weight) hashing for elections: the aggregator of epoch e is the live
 * peer p with the highest H(runId, e, p). Every peer computes H the same way from public data, so
 * no vote is needed; a different epoch re-draws the order, so a peer that failed as aggregator
 * is not systematically first again.
 */
import { hashString } from '../rng/streams.js';

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Per-(run, peer) base hash; computed once per peer id and combined with the epoch in O(1). */
export function peerBaseHash(runId: string, peer: string): number {
  return fmix32(hashString(runId) ^ Math.imul(hashString(peer), 0x9e3779b1));
}

/** H(runId, epoch, peer) from the base hash, as an unsigned 32-bit weight. */
export function rendezvousWeight(base: number, epoch: number): number {
  return fmix32((base ^ fmix32(Math.imul(epoch + 1, 0x85ebca77) ^ (Math.floor(epoch / 4294967296) | 0))) + 0x27d4eb2f);
}

/**
 * Total order of claimants of one epoch: higher weight first, ties (2^−32 per pair) broken by
 * the peer id's code-unit order. Returns > 0 when (wa, a) outranks (wb, b).
 */
export function outranks(wa: number, a: string, wb: number, b: string): number {
  if (wa !== wb) return wa - wb;
  return a < b ? 1 : a > b ? -1 : 0;
}

/** The `k` highest-weight peers of `candidates` for `epoch`, best first. O(n·k). */
export function topByWeight(candidates: Iterable<{ readonly id: string; readonly base: number }>, epoch: number, k: number): string[] {
  const ids: string[] = [];
  const ws: number[] = [];
  for (const c of candidates) {
    const w = rendezvousWeight(c.base, epoch);
    let pos = ids.length;
    while (pos > 0 && outranks(w, c.id, ws[pos - 1], ids[pos - 1]) > 0) pos--;
    if (pos >= k) continue;
    ids.splice(pos, 0, c.id);
    ws.splice(pos, 0, w);
    if (ids.length > k) {
      ids.pop();
      ws.pop();
    }
  }
  return ids;
}
