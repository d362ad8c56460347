import { describe, expect, it } from 'vitest';
import { keyedRng, Rng, Streams } from './internals.js';

describe('Rng', () => {
  it('is deterministic for a key and differs across keys', () => {
    const a = keyedRng(42, 7, 'randk', 3);
    const b = keyedRng(42, 7, 'randk', 3);
    const c = keyedRng(42, 7, 'randk', 4);
    const xa = Array.from({ length: 8 }, () => a.nextU32());
    const xb = Array.from({ length: 8 }, () => b.nextU32());
    const xc = Array.from({ length: 8 }, () => c.nextU32());
    expect(xa).toEqual(xb);
    expect(xa).not.toEqual(xc);
  });

  it('produces uniform floats (mean and variance within 5 standard errors)', () => {
    const r = new Streams(1).rng(0, 'test', 0);
    const n = 200_000;
    let s = 0;
    let s2 = 0;
    for (let i = 0; i < n; i++) {
      const u = r.nextFloat();
      s += u;
      s2 += u * u;
    }
    const mean = s / n;
    const variance = s2 / n - mean * mean;
    expect(Math.abs(mean - 0.5)).toBeLessThan(5 * Math.sqrt(1 / 12 / n));
    expect(Math.abs(variance - 1 / 12)).toBeLessThan(0.002);
  });

  it('nextInt is uniform over a non-power-of-two range (chi-square, 9 dof, p≈0.001 bound 27.9)', () => {
    const r = new Rng(1, 2, 3, 4);
    const k = 10;
    const n = 100_000;
    const counts = new Array<number>(k).fill(0);
    for (let i = 0; i < n; i++) counts[r.nextInt(k)]++;
    const e = n / k;
    const chi = counts.reduce((acc, c) => acc + ((c - e) * (c - e)) / e, 0);
    expect(chi).toBeLessThan(27.9);
  });

  it('nextInt is uniform for ranges above 2^21 (12 buckets of n = 3·2^22, chi-square 11 dof bound 31.3)', () => {
    const r = new Rng(11, 12, 13, 14);
    const n = 3 * 2 ** 22;
    const buckets = 12;
    const draws = 120_000;
    const counts = new Array<number>(buckets).fill(0);
    for (let i = 0; i < draws; i++) {
      const v = r.nextInt(n);
      expect(v >= 0 && v < n && Number.isInteger(v)).toBe(true);
      counts[Math.floor((v * buckets) / n)]++;
    }
    const e = draws / buckets;
    const chi = counts.reduce((acc, c) => acc + ((c - e) * (c - e)) / e, 0);
    expect(chi).toBeLessThan(31.3);
  });

  it('gaussian has mean 0 and variance 1 within tolerance', () => {
    const r = new Rng(9, 9, 9, 9);
    const n = 100_000;
    let s = 0;
    let s2 = 0;
    for (let i = 0; i < n; i++) {
      const g = r.nextGaussian();
      s += g;
      s2 += g * g;
    }
    expect(Math.abs(s / n)).toBeLessThan(5 / Math.sqrt(n));
    expect(Math.abs(s2 / n - 1)).toBeLessThan(0.02);
  });

  it('permutation is a permutation', () => {
    const p = new Rng(5, 6, 7, 8).permutation(1000);
    const sorted = Array.from(p).sort((x, y) => x - y);
    expect(sorted).toEqual(Array.from({ length: 1000 }, (_, i) => i));
  });
});
