/**
 * Broadcast as gossip fan-out over a relay tree.
 *
 * Gossipsub bounds every peer's upload per message by its mesh degree D (default 6): the
 * publisher sends to D mesh peers, each forwards to its own D peers, and duplicates are dropped.
 * We model the resulting spanning structure directly as a D-ary tree: for one broadcast, the
 * origin is position 0 and the other reachable peers are laid out in a seeded random order at
 * positions 1..n−1; position i forwards every frame it receives to positions i·D+1 … i·D+D
 * (store-and-forward per frame, so large messages pipeline down the tree). Every peer therefore
 * uploads at most D copies of a message — the aggregator's upload per broadcast is D × message
 * bytes whatever the swarm size — and a message reaches everyone in ⌈log_D n⌉ hops.
 *
 * What the model leaves out: gossipsub's redundant mesh links and IHAVE/IWANT repair. A frame lost
 * on a hop, or a relay that crashes mid-broadcast, loses that frame for the whole subtree below;
 * the engine must recover (state transfer, next round) exactly as it would from a real loss.
 * The random layout is redrawn for every broadcast, so no peer is systematically a leaf or a relay.
 */

/** Positions [start, end) of the children of tree position `pos` among `n` positions. */
export function childRange(pos: number, fanout: number, n: number): [number, number] {
  const start = pos * fanout + 1;
  if (start >= n) return [n, n];
  const end = start + fanout;
  return [start, end < n ? end : n];
}

/** Depth (hops from the origin) of tree position `pos`. */
export function depthOf(pos: number, fanout: number): number {
  let d = 0;
  while (pos > 0) {
    pos = Math.floor((pos - 1) / fanout);
    d++;
  }
  return d;
}
