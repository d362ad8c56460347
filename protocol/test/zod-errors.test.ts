/**
 * Validation messages in the user's words: typos answered with the field or value meant, numbers
 * and lists described with their bounds and the value found, problem-file shapes in the terms of
 * the problem (M matrices of d × d).
 */
import { describe, expect, it } from 'vitest';
import { bilinearFromJson, parseManifest, quadraticFromJson, ValidationError } from '../src/index.js';
import { closest } from '../src/zod-errors.js';

function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ValidationError);
    return (e as Error).message;
  }
  throw new Error('no error');
}

const minimal = { problem: { kind: 'bilinear' }, method: { name: 'masha1' } };

describe('validation messages', () => {
  it('a typo of a field or a name says what was meant', () => {
    expect(messageOf(() => parseManifest({ problem: { kind: 'bilinear' }, methd: { name: 'masha1' } }))).toMatch(
      /unknown field 'methd' — did you mean 'method'\?/,
    );
    expect(messageOf(() => parseManifest({ ...minimal, problem: { kind: 'bilinear', dd: 3 } }))).toBe("problem: unknown field 'dd' — did you mean 'd'?");
    expect(messageOf(() => parseManifest({ ...minimal, network: { leaseMS: 3000 } }))).toBe("network: unknown field 'leaseMS' — did you mean 'leaseMs'?");
    expect(messageOf(() => parseManifest({ ...minimal, wibble: 1 }))).toMatch(
      /^unknown field 'wibble' \(known fields: version, problem, method, compressors, stop, network, seed, admission, launcher, updates\)/,
    );
    expect(messageOf(() => parseManifest({ ...minimal, method: { name: 'mash1' } }))).toMatch(
      /^method\.name: must be one of 'masha1', .*, got 'mash1' — did you mean 'masha1'\?/,
    );
    expect(closest('quorom', ['quorum', 'minPeers'])).toBe('quorum');
    expect(closest('zzz', ['quorum', 'minPeers'])).toBeNull();
  });

  it('numbers, types and missing fields are described with the value found', () => {
    expect(messageOf(() => parseManifest({ ...minimal, stop: { iterations: 0 } }))).toBe('stop.iterations: must be at least 1, got 0');
    expect(messageOf(() => parseManifest({ ...minimal, stop: { iterations: 2.5 } }))).toBe('stop.iterations: must be a whole number, got 2.5');
    expect(messageOf(() => parseManifest({ ...minimal, seed: 'seven' }))).toBe("seed: must be a number, got 'seven'");
    expect(messageOf(() => parseManifest({ problem: { kind: 'bilinear' } }))).toBe('method: missing: must be an object');
    expect(messageOf(() => parseManifest({ ...minimal, stop: { target: 2 } }))).toBe('stop.target: must be less than 1, got 2');
  });

  it('problem files speak of matrices, shards and dimensions', () => {
    const vec = (d: number) => Array.from({ length: d }, () => 0.5);
    const mat = (d: number) => Array.from({ length: d }, () => vec(d));
    const file = { kind: 'bilinear', d: 3, M: 2, lambda: 0.1, A: [mat(3)], a: [vec(3), vec(3)], b: [vec(3), vec(3)] };
    expect(messageOf(() => bilinearFromJson(file))).toBe('A: must hold M = 2 matrices of d × d = 3 × 3, one per shard; it has 1');
    expect(messageOf(() => bilinearFromJson({ ...file, A: [mat(3), [vec(3), vec(3)]] }))).toBe('A[1]: each matrix has d = 3 rows; this one has 2');
    expect(messageOf(() => bilinearFromJson({ ...file, A: [mat(3), mat(3)], b: [vec(3), vec(4)] }))).toBe(
      'b[1]: each vector has d = 3 entries; this one has 4',
    );
    expect(messageOf(() => bilinearFromJson({ ...file, A: [mat(3), mat(3)], a: [vec(3), ['x', 0, 0]] }))).toBe("a[1][0]: must be a number, got 'x'");
    expect(messageOf(() => bilinearFromJson({ ...file, lambda: -1 }))).toBe('lambda: must be at least 0, got -1');
    const q = { kind: 'quadratic', d: 3, n: 2, bands: { diag: [vec(3), vec(3)], off: [vec(2), vec(3)] }, b: [vec(3), vec(3)] };
    expect(messageOf(() => quadraticFromJson(q))).toBe('bands.off[1]: each vector has d − 1 = 2 entries (the off-diagonal); this one has 3');
  });
});
