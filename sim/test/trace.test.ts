import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ValidationError } from '@masha/protocol';
import { runCli } from '../src/cli/program.js';
import { checkTraceConsistency, formatTrace, generateTrace, initialPeers, parseTrace, TraceError, type TraceEvent } from '../src/trace/index.js';

function errorOf(f: () => unknown): TraceError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(TraceError);
    expect(e).toBeInstanceOf(ValidationError);
    return e as TraceError;
  }
  throw new Error('expected a TraceError');
}

/** Present peers after applying every event with t ≤ at (starting from the t = 0 joins). */
function population(events: readonly TraceEvent[], at: number): number {
  const live = new Set<string>();
  for (const e of events) {
    if (e.t > at) break;
    if (e.event === 'join') live.add(e.peer);
    else if (e.event === 'leave' || e.event === 'crash') live.delete(e.peer);
  }
  return live.size;
}

describe('trace parsing and validation', () => {
  it('parses every event kind, skips blank lines, keeps line numbers', () => {
    const text = [
      '{"t":0,"event":"join","peer":"a"}',
      '',
      '{"t":0,"event":"join","peer":"b","uplinkMbps":5,"latencyMs":40,"loss":0.01}',
      '{"t":1.5,"event":"slow","peer":"a","factor":4}',
      '{"t":2,"event":"partition","peer":"b","group":"island"}',
      '  {"t":3,"event":"heal"}  ',
      '{"t":4,"event":"leave","peer":"b"}',
      '{"t":4,"event":"crash","peer":"a"}',
      '{"t":5,"event":"join","peer":"a"}',
      '{"t":6,"event":"heal","peer":"a"}',
    ].join('\n');
    const trace = parseTrace(text);
    expect(trace.events.map((e) => e.event)).toEqual(['join', 'join', 'slow', 'partition', 'heal', 'leave', 'crash', 'join', 'heal']);
    expect(trace.lines).toEqual([1, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(trace.events[1]).toEqual({ t: 0, event: 'join', peer: 'b', uplinkMbps: 5, latencyMs: 40, loss: 0.01 });
    expect(initialPeers(trace, 10)).toEqual(['a', 'b']);
    expect(() => checkTraceConsistency(trace, 10)).not.toThrow();
    // Round trip through the canonical writer.
    expect(parseTrace(formatTrace(trace.events)).events).toEqual(trace.events);
  });

  it('an empty trace means the default M peers throughout', () => {
    const trace = parseTrace('\n\n');
    expect(trace.events).toEqual([]);
    expect(initialPeers(trace, 3)).toEqual(['p0', 'p1', 'p2']);
    // Without t = 0 joins, events refer to the default peers.
    const t2 = parseTrace('{"t":10,"event":"crash","peer":"p1"}\n');
    expect(initialPeers(t2, 3)).toEqual(['p0', 'p1', 'p2']);
    expect(() => checkTraceConsistency(t2, 3)).not.toThrow();
    expect(errorOf(() => checkTraceConsistency(t2, 1)).line).toBe(1);
  });

  it.each([
    ['{"t":0,"event":"join","peer":"a"}\n{"t":1,"event":"slow","peer":"a","factor":"fast"}', 2, 'factor'],
    ['{"t":0,"event":"join","peer":"a"}\n\n{"t":1,"event":"slow","peer":"a","factor":-2}', 3, 'factor'],
    ['{"t":0,"event":"explode","peer":"a"}', 1, 'event'],
    ['{"t":-1,"event":"join","peer":"a"}', 1, 't'],
    ['{"t":"soon","event":"join","peer":"a"}', 1, 't'],
    ['{"t":0,"event":"join"}', 1, 'peer'],
    ['{"t":0,"event":"join","peer":"has space"}', 1, 'peer'],
    ['{"t":0,"event":"join","peer":"a","uplinkMbps":0}', 1, 'uplinkMbps'],
    ['{"t":0,"event":"join","peer":"a","loss":1}', 1, 'loss'],
    ['{"t":0,"event":"join","peer":"a","colour":"red"}', 1, 'colour'],
    ['{"t":0,"event":"partition","peer":"a"}', 1, 'group'],
    ['{"t":5,"event":"crash","peer":"a"}\n{"t":4,"event":"crash","peer":"b"}', 2, 't'],
    ['{"t":0,"event":"join","peer":"a"}\n{"t":1,"event":"join" "peer":"b"}', 2, ''],
    ['[1,2]', 1, ''],
  ])('rejects %j at line %i naming field %j', (text, line, field) => {
    const e = errorOf(() => parseTrace(text));
    expect(e.line).toBe(line);
    expect(e.field).toBe(field);
    expect(e.message).toContain(`line ${line}`);
    if (field) expect(e.message).toContain(`"${field}"`);
  });

  it('consistency errors name the line and the peer field', () => {
    const joinTwice = parseTrace('{"t":0,"event":"join","peer":"a"}\n{"t":1,"event":"join","peer":"a"}');
    let e = errorOf(() => checkTraceConsistency(joinTwice, 4));
    expect([e.line, e.field]).toEqual([2, 'peer']);
    const ghost = parseTrace('{"t":0,"event":"join","peer":"a"}\n{"t":1,"event":"leave","peer":"a"}\n{"t":2,"event":"slow","peer":"a","factor":2}');
    e = errorOf(() => checkTraceConsistency(ghost, 4));
    expect([e.line, e.field]).toEqual([3, 'peer']);
    const main = parseTrace('{"t":0,"event":"join","peer":"a"}\n{"t":1,"event":"partition","peer":"a","group":"main"}');
    e = errorOf(() => checkTraceConsistency(main, 4));
    expect([e.line, e.field]).toEqual([2, 'group']);
  });
});

describe('trace generators', () => {
  it.each(['poisson', 'preemptible', 'diurnal'] as const)('%s: deterministic, sorted, valid, round-trips through JSON Lines', (kind) => {
    const a = generateTrace({ kind, peers: 50, duration: 600, seed: 5 });
    expect(generateTrace({ kind, peers: 50, duration: 600, seed: 5 })).toEqual(a);
    expect(generateTrace({ kind, peers: 50, duration: 600, seed: 6 })).not.toEqual(a);
    const trace = parseTrace(formatTrace(a));
    expect(trace.events).toEqual(a);
    expect(() => checkTraceConsistency(trace, 50)).not.toThrow();
    expect(initialPeers(trace, 999)).toEqual(Array.from({ length: 50 }, (_, i) => `p${i}`));
    expect(a.length).toBeGreaterThan(60); // some churn beyond the 50 initial joins
    for (const e of a) expect(e.t).toBeLessThanOrEqual(600);
  });

  it('poisson: population stays near N and the crash share of departures is crashFraction (4 sd)', () => {
    const N = 1000;
    const ev = generateTrace({ kind: 'poisson', peers: N, duration: 1000, seed: 9, crashFraction: 0.3 });
    // Survivors ~ Bin(N, e^−1) plus arrivals ~ Poisson(N(1 − e^−1)): variance ≈ 0.86 N.
    const sd = Math.sqrt(0.86 * N);
    expect(Math.abs(population(ev, 1000) - N)).toBeLessThan(4 * sd);
    const crashes = ev.filter((e) => e.event === 'crash').length;
    const departures = crashes + ev.filter((e) => e.event === 'leave').length;
    expect(departures).toBeGreaterThan(0.5 * N);
    const se = Math.sqrt((0.3 * 0.7) / departures);
    expect(Math.abs(crashes / departures - 0.3)).toBeLessThan(4 * se);
  });

  it('preemptible: crashes come in simultaneous bursts and each victim is replaced later', () => {
    const ev = generateTrace({ kind: 'preemptible', peers: 200, duration: 3600, seed: 2, burstGap: 600, restartDelay: 120 });
    const crashTimes = new Map<number, number>();
    for (const e of ev) if (e.event === 'crash') crashTimes.set(e.t, (crashTimes.get(e.t) ?? 0) + 1);
    expect(crashTimes.size).toBeGreaterThanOrEqual(2);
    for (const count of crashTimes.values()) expect(count).toBeGreaterThanOrEqual(2);
    const lateJoins = ev.filter((e) => e.event === 'join' && e.t > 0);
    const crashes = [...crashTimes.values()].reduce((a, b) => a + b, 0);
    // Every replacement comes 60–180 s after its burst; only those past the end are missing.
    expect(lateJoins.length).toBeLessThanOrEqual(crashes);
    expect(lateJoins.length).toBeGreaterThan(0);
    const bursts = [...crashTimes.keys()];
    for (const j of lateJoins) expect(bursts.some((b) => j.t - b >= 60 - 1e-9 && j.t - b <= 180 + 1e-9)).toBe(true);
  });

  it('diurnal: the population dips to about (1 − amplitude)·N mid-period and recovers', () => {
    const N = 1000;
    const ev = generateTrace({ kind: 'diurnal', peers: N, duration: 86_400, seed: 4, amplitude: 0.6, meanSession: 4 * 3600 });
    expect(Math.abs(population(ev, 43_200) / N - 0.4)).toBeLessThan(0.06);
    expect(Math.abs(population(ev, 86_400) / N - 1)).toBeLessThan(0.1);
    expect(Math.abs(population(ev, 21_600) / N - 0.7)).toBeLessThan(0.08);
  });

  it('rejects bad options', () => {
    expect(() => generateTrace({ kind: 'poisson', peers: 0, duration: 10, seed: 1 })).toThrow(RangeError);
    expect(() => generateTrace({ kind: 'poisson', peers: 5, duration: -1, seed: 1 })).toThrow(RangeError);
    expect(() => generateTrace({ kind: 'diurnal', peers: 5, duration: 10, seed: 1, amplitude: 1.5 })).toThrow(RangeError);
    expect(() => generateTrace({ kind: 'nope' as 'poisson', peers: 5, duration: 10, seed: 1 })).toThrow(RangeError);
  });
});

describe('masha-sim trace gen', () => {
  async function cli(argv: string[], cwd: string) {
    let out = '';
    let err = '';
    const code = await runCli(argv, {
      stdout: { write: (s: string) => (out += s) },
      stderr: { write: (s: string) => (err += s) },
      cwd,
    });
    return { code, out, err };
  }

  it('writes the same trace as generateTrace, to a file or stdout', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'masha-trace-'));
    const r = await cli(['trace', 'gen', '--kind', 'preemptible', '--peers', '40', '--duration', '900', '--seed', '3', '--out', 'churn.jsonl'], dir);
    expect(r.code).toBe(0);
    const expected = formatTrace(generateTrace({ kind: 'preemptible', peers: 40, duration: 900, seed: 3 }));
    expect(readFileSync(join(dir, 'churn.jsonl'), 'utf8')).toBe(expected);
    const s = await cli(['trace', 'gen', '--kind', 'preemptible', '--peers', '40', '--duration', '900', '--seed', '3'], dir);
    expect(s.out).toBe(expected);
  });

  it('bad flags exit 2 with one line naming the flag', async () => {
    const r = await cli(['trace', 'gen', '--kind', 'weekly', '--peers', '4', '--duration', '10'], '.');
    expect(r.code).toBe(2);
    expect(r.err.trim().split('\n')).toHaveLength(1);
    expect(r.err).toContain('--kind');
    const q = await cli(['trace', 'gen', '--kind', 'poisson', '--peers', '0', '--duration', '10'], '.');
    expect(q.code).toBe(2);
    expect(q.err).toContain('--peers');
  });
});

describe('trace errors in plain words', () => {
  it('answers a misspelt field or event with what was meant', () => {
    expect(() => parseTrace('{"t":1,"event":"slow","peer":"a","factr":2}\n')).toThrow(
      /trace line 1, field "factr": unknown field 'factr' — did you mean 'factor'\?/,
    );
    expect(() => parseTrace('{"t":1,"event":"crsh","peer":"a"}\n')).toThrow(
      /trace line 1, field "event": must be one of join, leave, crash, slow, partition, heal — did you mean 'crash'\?/,
    );
    expect(() => parseTrace('{"t":-1,"event":"crash","peer":"a"}\n')).toThrow(/field "t": must be at least 0, got -1/);
  });
});
