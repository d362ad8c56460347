import { it } from 'vitest';
import { parseManifest } from '@masha/protocol';
import { MemoryLog } from '../src/des/event-log.js';
import { simulate } from '../src/run/simulate.js';
const P = Number(process.env.P ?? 1000), D = Number(process.env.D ?? 200000), N = Number(process.env.N ?? 100), IT = Number(process.env.IT ?? 6);
it('exp', () => {
  for (const tree of (process.env.MODES ?? 'tree,gossip').split(',').map((m) => m === 'tree')) {
    const manifest = parseManifest({
      problem: { kind: 'quadratic', d: D, n: N, seed: 1 },
      method: { name: process.env.METHOD ?? 'marina', gamma: 'theory' },
      compressors: { device: process.env.CDEV ?? 'permk', server: 'identity' },
      stop: { iterations: IT },
      network: { frameBytes: Number(process.env.F ?? 4096), heartbeatMs: 1000, leaseMs: 8000, roundDeadlineMs: 20000, quorum: 1, minPeers: P, broadcast: { tree, stripes: Number(process.env.K ?? 8) } },
      seed: 1,
    });
    const ids = Array.from({ length: P }, (_, i) => `p${i}`);
    const log = new MemoryLog();
    const t0 = performance.now();
    const r = simulate({ manifest, log, trace: { events: ids.map((peer) => ({ t: 0, event: 'join' as const, peer })), lines: [] } as never });
    const wall = (performance.now() - t0) / 1000;
    const lines = log.lines.map((l) => JSON.parse(l));
    const agg = lines.filter((l) => l.ev === 'broadcast' && l.kind === 5)[0]?.peer ?? lines.find((l) => l.ev === 'tree' && l.what === 'originated')?.peer;
    const commits = new Map<number, { agg: number; last: number; n: number }>();
    for (const l of lines) if (l.ev === 'commit') { const e = commits.get(l.round) ?? { agg: NaN, last: 0, n: 0 }; if (l.peer === agg) e.agg = l.t; else { e.last = Math.max(e.last, l.t); e.n++; } commits.set(l.round, e); }
    const lastUp = new Map<number, number>();
    for (const l of lines) if (l.ev === 'receive' && l.peer === agg && l.kind === 4) lastUp.set(l.round, Math.max(lastUp.get(l.round) ?? 0, l.t));
    const rs = [...commits.keys()].sort((a, b) => a - b);
    for (let i = 1; i < rs.length; i++) { const r0 = commits.get(rs[i-1])!, r1 = commits.get(rs[i])!; console.log(tree ? 'tree' : 'gossip', 'round', rs[i], 'interval', (r1.agg - r0.agg).toFixed(3), 'bcast', (r0.last - r0.agg).toFixed(3), 'lastUplinkArrive', ((lastUp.get(rs[i]) ?? NaN) - r0.agg).toFixed(3), 'n', r1.n); }
    const c: Record<string, number> = {}; for (const [k, v] of r.counters) c[k] = v;
    let rep = 0; for (const h of r.hosts.values()) rep += (h.counters['tree-repair'] ?? 0) + (h.counters['tree-foster-pull'] ?? 0);
    console.log(tree, 'wall', wall.toFixed(1), 'sim', r.summary.simSeconds.toFixed(2), 'rss', (process.memoryUsage().rss / 2**30).toFixed(2), 'GiB', 'agg up', (r.stats as any) && '', JSON.stringify(c), 'repairs', rep, 'consistent', r.summary.consistent, 'iters', r.summary.iterations);
  }
}, 600000);
