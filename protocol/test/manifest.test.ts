import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ValidationError } from '../src/errors.js';
import { canonicalJson, runIdOf, sha256Hex } from '../src/manifest/canonical.js';
import { buildProblem, buildRun, runFromManifest } from '../src/manifest/build.js';
import { generateBilinear } from '../src/problems/bilinear.js';
import { bilinearToJson } from '../src/problems/bilinear-file.js';
import { theoryStepsize } from '../src/methods/stepsize.js';
import { parseCompressor } from '../src/compress/registry.js';
import { MANIFEST_DEFAULTS, parseManifest, quorumShards } from '../src/manifest/schema.js';

const minimal = { problem: { kind: 'bilinear' }, method: { name: 'masha1' } };

function fieldOf(value: unknown): string {
  try {
    parseManifest(value);
  } catch (e) {
    expect(e).toBeInstanceOf(ValidationError);
    return (e as ValidationError).field;
  }
  throw new Error('expected a ValidationError');
}

describe('manifest schema', () => {
  it('fills every default', () => {
    const m = parseManifest(minimal);
    expect(m.version).toBe(1);
    expect(m.problem).toEqual({ kind: 'bilinear', ...MANIFEST_DEFAULTS.bilinear });
    expect(m.method).toEqual({ name: 'masha1', gamma: 'theory', stochastic: false, prox: 'identity' });
    expect(m.compressors).toEqual({ device: 'dither:p=2,s=8', server: 'identity' });
    expect(parseManifest({ ...minimal, method: { name: 'eg' } }).compressors.device).toBe('identity');
    expect(parseManifest({ ...minimal, compressors: { device: 'randk:0.1' } }).compressors.device).toBe('randk:0.1');
    expect(m.stop).toEqual({ iterations: 10_000 });
    expect(m.network).toEqual({ ...MANIFEST_DEFAULTS.network });
    expect(m.seed).toBe(0);
  });

  it('accepts every problem kind', () => {
    expect(parseManifest({ problem: { kind: 'quadratic', d: 50, n: 5, s: 0.1 }, method: { name: 'marina' } }).problem).toEqual({
      kind: 'quadratic',
      d: 50,
      n: 5,
      s: 0.1,
      seed: 0,
      lambda: 1e-6,
    });
    expect(parseManifest({ problem: { kind: 'file', path: 'p.json' }, method: { name: 'eg' } }).problem.kind).toBe('file');
    expect(parseManifest({ problem: { kind: 'inline', data: { kind: 'bilinear' } }, method: { name: 'eg' } }).problem.kind).toBe('inline');
  });

  it('names the offending field', () => {
    expect(fieldOf({})).toBe('problem');
    expect(fieldOf({ problem: { kind: 'bilinear', d: 0 }, method: { name: 'masha1' } })).toBe('problem.d');
    expect(fieldOf({ problem: { kind: 'bilinear', d: 2.5 }, method: { name: 'masha1' } })).toBe('problem.d');
    expect(fieldOf({ problem: { kind: 'bilinear', spectrum: [1, 0.5] }, method: { name: 'masha1' } })).toBe('problem.spectrum');
    expect(fieldOf({ problem: { kind: 'torus' }, method: { name: 'masha1' } })).toBe('problem.kind');
    expect(fieldOf({ ...minimal, method: { name: 'masha9' } })).toBe('method.name');
    expect(fieldOf({ ...minimal, method: { name: 'masha1', gamma: -1 } })).toBe('method.gamma');
    expect(fieldOf({ ...minimal, method: { name: 'masha1', tau: 1 } })).toBe('method.tau');
    expect(fieldOf({ ...minimal, network: { leaseMs: 0 } })).toBe('network.leaseMs');
    expect(fieldOf({ ...minimal, network: { heartbeatMs: 1000, leaseMs: 1500 } })).toBe('network.leaseMs');
    expect(fieldOf({ ...minimal, network: { quorum: 1.5 } })).toBe('network.quorum');
    expect(fieldOf({ ...minimal, network: { quorum: { count: 11 } } })).toBe('network.quorum.count');
    expect(fieldOf({ ...minimal, network: { frameBytes: 100 } })).toBe('network.frameBytes');
    expect(fieldOf({ ...minimal, compressors: { device: 'randk:7' } })).toBe('compressors.device');
    expect(fieldOf({ ...minimal, compressors: { server: 'zip' } })).toBe('compressors.server');
    expect(fieldOf({ ...minimal, method: { name: 'masha1', prox: 'ball:r=x' } })).toBe('method.prox');
    expect(fieldOf({ ...minimal, stop: { iterations: 0 } })).toBe('stop.iterations');
    expect(fieldOf({ ...minimal, stop: { target: 2 } })).toBe('stop.target');
    expect(fieldOf({ ...minimal, seed: -3 })).toBe('seed');
    expect(fieldOf({ ...minimal, extra: 1 })).toBe('');
    expect(fieldOf({ ...minimal, problem: { kind: 'bilinear', dd: 3 } })).toBe('problem');
    expect(fieldOf({ problem: { kind: 'bilinear' }, method: { name: 'marina' } })).toBe('method.name');
    expect(fieldOf({ ...minimal, method: { name: 'masha1', stochastic: true } })).toBe('method.stochastic');
    expect(fieldOf({ ...minimal, problem: { kind: 'file', path: 'x', sha256: 'ABC' } })).toBe('problem.sha256');
  });

  it('throws only ValidationError on arbitrary JSON', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        try {
          parseManifest(v);
        } catch (e) {
          return e instanceof ValidationError;
        }
        return true;
      }),
      { numRuns: 300, seed: 7 },
    );
    // Mutations of a valid manifest: each field replaced by random JSON.
    const base = parseManifest(minimal) as unknown as Record<string, Record<string, unknown>>;
    const paths: [string, string][] = [];
    for (const k of Object.keys(base)) {
      if (typeof base[k] === 'object') for (const j of Object.keys(base[k])) paths.push([k, j]);
    }
    fc.assert(
      fc.property(fc.constantFrom(...paths), fc.jsonValue(), ([a, b], v) => {
        const copy = JSON.parse(JSON.stringify(base)) as Record<string, Record<string, unknown>>;
        copy[a][b] = v;
        try {
          parseManifest(copy);
          return true;
        } catch (e) {
          return e instanceof ValidationError && e.field.startsWith(a);
        }
      }),
      { numRuns: 400, seed: 11 },
    );
  });

  it('is idempotent: a validated manifest parses to itself (same run id)', () => {
    for (const input of [
      minimal,
      { problem: { kind: 'quadratic', d: 30 }, method: { name: 'marina' } },
      { problem: { kind: 'bilinear', M: 4 }, method: { name: 'eg', gamma: 0.1 }, network: { quorum: { count: 2 } }, stop: { target: 1e-5 } },
    ]) {
      const once = parseManifest(input);
      expect(parseManifest(JSON.parse(JSON.stringify(once)))).toEqual(once);
      expect(runIdOf(parseManifest(JSON.parse(JSON.stringify(once))))).toBe(runIdOf(once));
    }
  });

  it('resolves the quorum', () => {
    expect(quorumShards(0.5, 10)).toBe(5);
    expect(quorumShards(0.51, 10)).toBe(6);
    expect(quorumShards(1, 7)).toBe(7);
    expect(quorumShards(0.01, 10)).toBe(1);
    expect(quorumShards({ count: 3 }, 10)).toBe(3);
    expect(quorumShards({ count: 30 }, 10)).toBe(10);
  });
});

describe('canonical JSON and run id', () => {
  it('sorts keys at every level and is whitespace-free', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: 'x' } })).toBe('{"a":{"c":"x","d":[3,{"y":2,"z":1}]},"b":1}');
    expect(canonicalJson({ a: undefined, b: null })).toBe('{"b":null}');
    expect(canonicalJson(0.1)).toBe('0.1');
    expect(() => canonicalJson({ x: Number.NaN })).toThrow(ValidationError);
    expect(() => canonicalJson({ x: new Float64Array(2) })).toThrow(ValidationError);
  });

  it('is invariant to key order and parses back to the same value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const s = canonicalJson(v);
        const back = JSON.parse(s) as unknown;
        return canonicalJson(back) === s && canonicalJson(shuffleKeys(back)) === s;
      }),
      { numRuns: 300, seed: 3 },
    );
  });

  it('gives the SHA-256 of the canonical manifest', () => {
    // Known-answer test of the hash itself.
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    const a = parseManifest(minimal);
    const b = parseManifest({ method: { name: 'masha1', gamma: 'theory' }, problem: { M: 10, kind: 'bilinear' }, seed: 0 });
    expect(runIdOf(a)).toMatch(/^[0-9a-f]{64}$/);
    expect(runIdOf(a)).toBe(runIdOf(b)); // defaults written out or not: the same run
    expect(runIdOf(a)).toBe(sha256Hex(canonicalJson(a)));
    expect(runIdOf(parseManifest({ ...minimal, seed: 1 }))).not.toBe(runIdOf(a));
    expect(runIdOf(parseManifest({ ...minimal, network: { quorum: 0.6 } }))).not.toBe(runIdOf(a));
  });
});

function shuffleKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(shuffleKeys);
  if (v !== null && typeof v === 'object') {
    const keys = Object.keys(v).reverse();
    const out: Record<string, unknown> = {};
    for (const k of keys) out[k] = shuffleKeys((v as Record<string, unknown>)[k]);
    return out;
  }
  return v;
}

describe('building a run from a manifest', () => {
  const small = { kind: 'bilinear', d: 4, M: 3, seed: 9 };

  it('generates the named problem and resolves the theory stepsize', () => {
    const m = parseManifest({ problem: small, method: { name: 'masha1' }, compressors: { device: 'randk:0.5' } });
    const built = buildRun(m);
    expect(built.problem.dim).toBe(8);
    expect(built.problem.shards).toBe(3);
    expect(built.gamma).toBe(
      theoryStepsize('masha1', { problem: built.problem, device: parseCompressor('randk:0.5'), server: parseCompressor('identity'), stochastic: false }),
    );
    expect(built.method.gamma).toBe(built.gamma);
    expect(built.runId).toBe(runIdOf(m));
    const run = runFromManifest(parseManifest({ problem: small, method: { name: 'masha1', gamma: 0.1 }, network: { quorum: { count: 2 } } }));
    expect(run.method.gamma).toBe(0.1);
    expect(run.ctx.quorum).toBe(2);
    expect(run.ctx.shards).toBe(3);
    expect(run.ctx.runId).toBe(run.runId);
    expect(run.ctx.solution).not.toBeNull();
    expect(runFromManifest(parseManifest({ problem: small, method: { name: 'eg', gamma: 0.1 } })).ctx.quorum).toBe(2); // ⌈0.5·3⌉
  });

  it('builds marina on a quadratic with its theory stepsize', () => {
    const run = runFromManifest(parseManifest({ problem: { kind: 'quadratic', d: 20, n: 4 }, method: { name: 'marina' }, compressors: { device: 'permk' } }));
    expect(run.method.name).toBe('marina');
    expect(run.gamma).toBeGreaterThan(0);
    expect(Number.isFinite(run.gamma)).toBe(true);
  });

  it('reads inline and file problems, checking the pinned SHA-256', () => {
    const json = bilinearToJson(generateBilinear({ d: 3, M: 2, seed: 1 }));
    const inline = buildProblem(parseManifest({ problem: { kind: 'inline', data: json }, method: { name: 'eg' } }).problem);
    expect(inline.dim).toBe(6);
    const text = JSON.stringify(json);
    const files = { 'p.json': text };
    const readFile = (path: string) => files[path as 'p.json'];
    const ok = parseManifest({ problem: { kind: 'file', path: 'p.json', sha256: sha256Hex(text) }, method: { name: 'eg' } });
    const z = new Float64Array(6).fill(0.5);
    const a = new Float64Array(6);
    const b = new Float64Array(6);
    buildProblem(ok.problem, { readFile }).operator(1, z, a);
    inline.operator(1, z, b);
    expect(a).toEqual(b);
    const field = (f: () => unknown): string => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(ValidationError);
        return (e as ValidationError).field;
      }
      return 'accepted';
    };
    const pinnedWrong = parseManifest({ problem: { kind: 'file', path: 'p.json', sha256: '0'.repeat(64) }, method: { name: 'eg' } });
    expect(field(() => buildProblem(pinnedWrong.problem, { readFile }))).toBe('problem.sha256');
    expect(field(() => buildProblem(ok.problem))).toBe('problem.path');
    expect(field(() => buildProblem(parseManifest({ problem: { kind: 'inline', data: { kind: 'torus' } }, method: { name: 'eg' } }).problem))).toBe(
      'problem.data.kind',
    );
    const bad = { ...json, lambda: -1 };
    expect(field(() => buildProblem(parseManifest({ problem: { kind: 'inline', data: bad }, method: { name: 'eg' } }).problem))).toBe('problem.data.lambda');
  });
});
