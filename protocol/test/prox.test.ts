import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { BallProx, BoxProx, IdentityProx, L1Prox, SquaredNormProx } from '../src/prox/basic.js';
import { SimplexProx } from '../src/prox/simplex.js';
import { parseProx } from '../src/prox/registry.js';
import { SpecError } from '../src/errors.js';
import { keyedRng } from '../src/rng/streams.js';
import type { Rng } from '../src/rng/xoshiro128.js';

function randVec(n: number, rng: Rng, scale = 1): Float64Array {
  const v = new Float64Array(n);
  for (let i = 0; i < n; i++) v[i] = scale * rng.nextGaussian();
  return v;
}
const dotp = (a: Float64Array, b: Float64Array) => a.reduce((s, x, i) => s + x * b[i], 0);
const sub = (a: Float64Array, b: Float64Array) => a.map((x, i) => x - b[i]);
const nsq = (v: Float64Array) => dotp(v, v);

/**
 * Projection optimality (variational characterisation): p = P_C(v) iff p ∈ C and
 * <v − p, u − p> ≤ 0 for all u ∈ C. Checked on the given feasible points u.
 */
function expectProjectionOptimal(v: Float64Array, p: Float64Array, feasible: Float64Array[], tol = 1e-10): void {
  const r = sub(v, p);
  for (const u of feasible) expect(dotp(r, sub(u, p))).toBeLessThanOrEqual(tol);
}

/** Brute force in 2-D: the feasible grid point closest to v (grid step h). */
function gridArgmin(v: Float64Array, inSet: (x: number, y: number) => boolean, lo: number, hi: number, h: number): Float64Array {
  let best = Infinity;
  const arg = new Float64Array(2);
  for (let x = lo; x <= hi; x += h) {
    for (let y = lo; y <= hi; y += h) {
      if (!inSet(x, y)) continue;
      const dd = (x - v[0]) ** 2 + (y - v[1]) ** 2;
      if (dd < best) {
        best = dd;
        arg[0] = x;
        arg[1] = y;
      }
    }
  }
  return arg;
}

describe('prox operators', () => {
  const rng = keyedRng(1, 0, 'prox-test', 0);

  it('identity copies (and works in place)', () => {
    const v = randVec(5, rng);
    const out = new IdentityProx().apply(v, 0.3, new Float64Array(5));
    expect(out).toEqual(v);
    expect(new IdentityProx().apply(v, 0.3, v)).toBe(v);
  });

  it('ball: projection is feasible and optimal; interior points unchanged; matches a 2-D grid search', () => {
    const prox = new BallProx(1.5);
    for (let t = 0; t < 20; t++) {
      const v = randVec(6, rng, 2);
      const p = prox.apply(v, 1, new Float64Array(6));
      expect(Math.sqrt(nsq(p))).toBeLessThanOrEqual(1.5 + 1e-12);
      const feasible = Array.from({ length: 50 }, () => {
        const u = randVec(6, rng);
        const s = (1.5 * rng.nextFloat()) / Math.sqrt(nsq(u));
        return u.map((x) => x * s);
      });
      expectProjectionOptimal(v, p, feasible);
    }
    const inside = Float64Array.of(0.3, -0.4);
    expect(prox.apply(inside, 1, new Float64Array(2))).toEqual(inside);
    const v = Float64Array.of(2.1, -1.7);
    const g = gridArgmin(v, (x, y) => x * x + y * y <= 1.5 * 1.5, -2, 2, 0.002);
    const p = prox.apply(v, 1, new Float64Array(2));
    expect(Math.hypot(p[0] - g[0], p[1] - g[1])).toBeLessThan(0.01);
  });

  it('box: coordinatewise clamp is optimal and matches a grid search', () => {
    const prox = new BoxProx(-0.5, 1);
    for (let t = 0; t < 20; t++) {
      const v = randVec(5, rng, 2);
      const p = prox.apply(v, 1, new Float64Array(5));
      for (const x of p) {
        expect(x).toBeGreaterThanOrEqual(-0.5);
        expect(x).toBeLessThanOrEqual(1);
      }
      // The vertices of the box suffice (a linear function on a polytope peaks at a vertex).
      const corners = Array.from({ length: 32 }, (_, mask) => Float64Array.from({ length: 5 }, (_, i) => ((mask >> i) & 1 ? 1 : -0.5)));
      expectProjectionOptimal(v, p, corners);
    }
    const v = Float64Array.of(1.7, -0.2);
    const g = gridArgmin(v, (x, y) => x >= -0.5 && x <= 1 && y >= -0.5 && y <= 1, -1, 2, 0.005);
    const p = prox.apply(v, 1, new Float64Array(2));
    expect(Math.hypot(p[0] - g[0], p[1] - g[1])).toBeLessThan(0.01);
  });

  it('simplex: projection sums to s, is non-negative and optimal against every vertex', () => {
    for (const s of [1, 2.5]) {
      const prox = new SimplexProx(s);
      for (let t = 0; t < 30; t++) {
        const d = 1 + (t % 9);
        const v = randVec(d, rng, 1 + t / 10);
        const p = prox.apply(v, 1, new Float64Array(d));
        expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(s, 12);
        for (const x of p) expect(x).toBeGreaterThanOrEqual(0);
        const vertices = Array.from({ length: d }, (_, j) => {
          const e = new Float64Array(d);
          e[j] = s;
          return e;
        });
        // Vertices span the simplex, so optimality against them is optimality against the set.
        expectProjectionOptimal(v, p, vertices, 1e-9);
      }
    }
  });

  it('simplex: matches a brute-force grid search in 2-D and a sampled search in 3-D', () => {
    const prox = new SimplexProx();
    const v2 = Float64Array.of(0.9, -0.3);
    // On the 2-D simplex u = (t, 1 − t): minimise over a fine grid of t.
    let best = Infinity;
    let bt = 0;
    for (let t = 0; t <= 1; t += 1e-5) {
      const dd = (t - v2[0]) ** 2 + (1 - t - v2[1]) ** 2;
      if (dd < best) {
        best = dd;
        bt = t;
      }
    }
    const p2 = prox.apply(v2, 1, new Float64Array(2));
    expect(p2[0]).toBeCloseTo(bt, 4);
    const v3 = Float64Array.of(0.4, 0.35, -0.2);
    const p3 = prox.apply(v3, 1, new Float64Array(3));
    const dist = (u: Float64Array) => nsq(sub(u, v3));
    const h = 0.002;
    let bestDist = Infinity;
    for (let a = 0; a <= 1; a += h) {
      for (let b = 0; a + b <= 1; b += h) bestDist = Math.min(bestDist, dist(Float64Array.of(a, b, 1 - a - b)));
    }
    expect(dist(p3)).toBeLessThanOrEqual(bestDist + 1e-12);
    expect(dist(p3)).toBeGreaterThan(bestDist - 1e-2);
  });

  it('simplex projection is idempotent and non-expansive (property test)', () => {
    const prox = new SimplexProx();
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -10, max: 10, noNaN: true }), { minLength: 1, maxLength: 12 }),
        fc.array(fc.double({ min: -10, max: 10, noNaN: true }), { minLength: 12, maxLength: 12 }),
        (a, b) => {
          const v1 = Float64Array.from(a);
          const v2 = Float64Array.from(b.slice(0, a.length));
          const p1 = prox.apply(v1, 1, new Float64Array(a.length));
          const p2 = prox.apply(v2, 1, new Float64Array(a.length));
          const pp = prox.apply(p1, 1, new Float64Array(a.length));
          expect(Math.sqrt(nsq(sub(pp, p1)))).toBeLessThan(1e-9);
          expect(Math.sqrt(nsq(sub(p1, p2)))).toBeLessThanOrEqual(Math.sqrt(nsq(sub(v1, v2))) + 1e-9);
        },
      ),
      { numRuns: 200, seed: 42 },
    );
  });

  it('l1: soft-threshold minimises γλ|u| + (u − v)²/2 per coordinate (grid search)', () => {
    const prox = new L1Prox(0.7);
    const gamma = 0.5;
    const v = Float64Array.of(1.2, -0.1, 0.35, -0.9, 0.0);
    const p = prox.apply(v, gamma, new Float64Array(5));
    for (let i = 0; i < 5; i++) {
      let best = Infinity;
      let arg = 0;
      for (let u = -2; u <= 2; u += 1e-4) {
        const f = gamma * 0.7 * Math.abs(u) + (u - v[i]) ** 2 / 2;
        if (f < best) {
          best = f;
          arg = u;
        }
      }
      expect(Math.abs(p[i] - arg)).toBeLessThan(2e-4);
    }
    // Optimality: (v − p)/γ ∈ λ∂‖p‖₁.
    for (let i = 0; i < 5; i++) {
      const g = (v[i] - p[i]) / gamma;
      if (p[i] !== 0) expect(g).toBeCloseTo(0.7 * Math.sign(p[i]), 12);
      else expect(Math.abs(g)).toBeLessThanOrEqual(0.7 + 1e-12);
    }
  });

  it('l2: prox of (μ/2)‖u‖² is v/(1 + γμ) and reports μ as strong convexity', () => {
    const prox = new SquaredNormProx(0.4);
    const v = Float64Array.of(1, -2);
    const p = prox.apply(v, 0.5, new Float64Array(2));
    expect(p[0]).toBeCloseTo(1 / 1.2, 14);
    expect(p[1]).toBeCloseTo(-2 / 1.2, 14);
    expect(prox.strongConvexity).toBe(0.4);
  });

  it('rejects an output of the wrong length', () => {
    expect(() => new BallProx(1).apply(new Float64Array(3), 1, new Float64Array(2))).toThrow(/length/);
  });
});

describe('parseProx', () => {
  it('parses every prox spec to the matching operator', () => {
    expect(parseProx('identity')).toBeInstanceOf(IdentityProx);
    const ball = parseProx('ball:r=2');
    expect(ball).toBeInstanceOf(BallProx);
    expect((ball as BallProx).radius).toBe(2);
    expect((parseProx('ball:0.5') as BallProx).radius).toBe(0.5);
    const box = parseProx('box:lo=-1,hi=3') as BoxProx;
    expect([box.lo, box.hi]).toEqual([-1, 3]);
    expect(parseProx('simplex').spec).toBe('simplex');
    expect((parseProx('simplex:s=2') as SimplexProx).sum).toBe(2);
    expect((parseProx('l1:lambda=0.1') as L1Prox).lambda).toBe(0.1);
    expect((parseProx('l1:0.2') as L1Prox).lambda).toBe(0.2);
    expect(parseProx('l2:mu=0.3').strongConvexity).toBe(0.3);
    for (const spec of ['ball:r=2', 'box:lo=-1,hi=3', 'simplex:s=2', 'l1:lambda=0.1', 'l2:mu=0.3', 'identity']) {
      expect(parseProx(parseProx(spec).spec).spec).toBe(parseProx(spec).spec);
    }
  });

  for (const bad of ['', 'sphere', 'ball', 'ball:r=x', 'ball:r=-1', 'box:lo=1', 'box:lo=2,hi=1', 'l1:lambda=1,foo=2', 'simplex:s=0', 'ball:r=1,r=2']) {
    it(`rejects '${bad}' with a SpecError`, () => {
      expect(() => parseProx(bad)).toThrow(SpecError);
    });
  }
});
