/**
 * A diagnostic of gossipsub's outbound traffic, for benchmarks: with `MASHA_GOSSIP_TRACE=<dir>`
 * in the environment, every RPC a node sends is tallied — message bytes by topic (and, on a run's
 * broadcast topic, by engine kind), control bytes by kind (IHAVE, IWANT, IDONTWANT, GRAFT,
 * PRUNE) — and the tally is written to `<dir>/gossip-<peer id>.json` every second (a process
 * stopped by a signal keeps its last tally). Off (and costless) without the variable.
 *
 * The sizes are those of each part encoded alone (RPC framing adds a few bytes per part), and
 * each RPC is encoded a second time to count it: a diagnostic, not for production runs.
 */
import { writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { RPC } from '@libp2p/gossipsub/message';
import { topicKind } from './gossip-validate.js';

interface Tally {
  rpcs: number;
  rpcBytes: number;
  /** Messages by label: topic class (and engine kind on the broadcast topic). */
  messages: Record<string, { count: number; bytes: number; dataBytes: number }>;
  control: Record<string, { count: number; ids: number; bytes: number }>;
}

function label(topic: string, data: Uint8Array | undefined): string {
  const t = topicKind(topic);
  switch (t.kind) {
    case 'bcast':
      return `bcast kind ${data !== undefined && data.length > 5 ? data[5] : '?'}`;
    case 'status':
      return 'status';
    case 'runs':
      return 'runs';
    case 'other':
      return topic;
    default: {
      const never: never = t;
      return String(never);
    }
  }
}

/** Wraps `gossipsub.sendRpc` to tally what it sends (see the module comment); no-op without the variable. */
export function installGossipTrace(pubsub: unknown, peerId: string): () => void {
  const dir = process.env.MASHA_GOSSIP_TRACE;
  if (dir === undefined || dir === '') return () => {};
  const gs = pubsub as { sendRpc?: (id: string, rpc: RPC) => boolean };
  const original = gs.sendRpc;
  if (typeof original !== 'function') return () => {};
  const tally: Tally = { rpcs: 0, rpcBytes: 0, messages: {}, control: {} };
  const started = Date.now();
  gs.sendRpc = function traced(this: unknown, id: string, rpc: RPC): boolean {
    const sent = original.call(this, id, rpc);
    if (!sent) return sent;
    tally.rpcs++;
    tally.rpcBytes += RPC.encode(rpc).length;
    for (const m of rpc.messages) {
      const key = label(m.topic, m.data);
      const e = (tally.messages[key] ??= { count: 0, bytes: 0, dataBytes: 0 });
      e.count++;
      e.bytes += RPC.Message.encode(m).length;
      e.dataBytes += m.data?.length ?? 0;
    }
    const c = rpc.control;
    if (c !== undefined) {
      const parts: [string, unknown[] | undefined, (x: unknown) => number][] = [
        ['ihave', c.ihave, (x) => (x as { messageIDs: unknown[] }).messageIDs.length],
        ['iwant', c.iwant, (x) => (x as { messageIDs: unknown[] }).messageIDs.length],
        ['idontwant', c.idontwant, (x) => (x as { messageIDs: unknown[] }).messageIDs.length],
        ['graft', c.graft, () => 0],
        ['prune', c.prune, () => 0],
      ];
      for (const [name, list, ids] of parts) {
        if (list === undefined || list.length === 0) continue;
        const e = (tally.control[name] ??= { count: 0, ids: 0, bytes: 0 });
        e.count += list.length;
        for (const x of list) e.ids += ids(x);
        e.bytes += RPC.ControlMessage.encode({ ihave: [], iwant: [], graft: [], prune: [], idontwant: [], [name]: list }).length;
      }
    }
    return sent;
  };
  const file = join(dir, `gossip-${peerId}.json`);
  const write = (): void => {
    try {
      writeFileSync(`${file}.tmp`, JSON.stringify({ peer: peerId, seconds: (Date.now() - started) / 1000, ...tally }));
      renameSync(`${file}.tmp`, file);
    } catch {
      /* a diagnostic: never fail the node */
    }
  };
  const timer = setInterval(write, 1000);
  timer.unref();
  return () => {
    clearInterval(timer);
    write();
    gs.sendRpc = original;
  };
}
