import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ValidationError } from '../src/errors.js';
import { canonicalJson, runIdOf, sha256Hex } from '../src/manifest/canonical.js';
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
    expect(m.compressors).toEqual({ device: 'randk:0.1', server: 'identity' });
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
