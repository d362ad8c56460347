/**
 * Shard assignment: the M shards (operators F_m) of a run go to its live, synchronised peers.
 *
 * - Balanced: every eligible peer ends with ⌊M/N⌋ or ⌈M/N⌉ shards (N eligible peers; with N > M,
 *   M peers hold one shard each and the others stand by).
 * - Sticky: a shard keeps its holder while that holder lives and is not above its fair share;
 *   only the shards of departed peers and the excess of overloaded peers move.
 * - Deterministic: the outcome depends only on the current holders and the set of eligible peers
 *   (peers are visited in code-unit order of their ids, pooled shards in ascending order).
 *
 * O(M + N log N); the aggregator calls it at round boundaries, and only when membership changed.
 */

export interface AssignmentChange {
  readonly shard: number;
  readonly from: string | null;
  readonly to: string | null;
}

/**
 * Rebalances `holders` (holder of each shard, null = none) in place over the `eligible` peers and
 * returns the changes in ascending shard order.
 */
export function rebalance(holders: (string | null)[], eligible: Iterable<string>): AssignmentChange[] {
  const M = holders.length;
  const peers = [...new Set(eligible)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const N = peers.length;
  const before = holders.slice();
  if (N === 0) {
    holders.fill(null);
    return diff(before, holders);
  }
  const index = new Map<string, number>();
  for (let i = 0; i < N; i++) index.set(peers[i], i);
  const lists: number[][] = peers.map(() => []);
  const pool: number[] = [];
  for (let m = 0; m < M; m++) {
    const h = holders[m];
    const i = h === null ? undefined : index.get(h);
    if (i === undefined) pool.push(m);
    else lists[i].push(m);
  }
  const lo = Math.floor(M / N);
  const extra = M % N;
  const cap = extra > 0 ? lo + 1 : lo;
  for (const list of lists) while (list.length > cap) pool.push(list.pop() as number);
  if (extra > 0) {
    let atHi = 0;
    for (const list of lists) if (list.length === lo + 1) atHi++;
    for (let i = N - 1; i >= 0 && atHi > extra; i--) {
      if (lists[i].length === lo + 1) {
        pool.push(lists[i].pop() as number);
        atHi--;
      }
    }
  }
  pool.sort((a, b) => a - b);
  let next = 0;
  for (let i = 0; i < N && next < pool.length; i++) while (lists[i].length < lo && next < pool.length) lists[i].push(pool[next++]);
  for (let i = 0; i < N && next < pool.length; i++) if (lists[i].length === lo) lists[i].push(pool[next++]);
  holders.fill(null);
  for (let i = 0; i < N; i++) for (const m of lists[i]) holders[m] = peers[i];
  return diff(before, holders);
}

function diff(before: readonly (string | null)[], after: readonly (string | null)[]): AssignmentChange[] {
  const out: AssignmentChange[] = [];
  for (let m = 0; m < after.length; m++) if (before[m] !== after[m]) out.push({ shard: m, from: before[m], to: after[m] });
  return out;
}
