/**
 * Quadratic problem files (PermK paper problems, SPEC §1): a parsed JSON value
 *   { "kind": "quadratic", "d", "n", "A": [n][d][d] | "bands": { "diag": [n][d], "off": [n][d−1] },
 *     "b": [n][d], "x0"?: [d] }
 * validated with zod. Exactly one of `A` (dense, symmetric) and `bands` (symmetric tridiagonal).
 * A dense file whose matrices are all tridiagonal is stored as bands (O(d) gradients).
 * The value is untrusted: wrong shapes, missing fields, non-numeric or non-finite entries,
 * asymmetric matrices and oversize problems raise a ValidationError whose `field` names the first
 * offending value, e.g. `n`, `bands.off[2]`, `A[1][0][3]` or `b[0][17]`.
 */
import { z } from 'zod';
import { ValidationError } from '../errors.js';
import { issueLength, zodValidationError } from '../zod-errors.js';
import { QuadraticProblem, type QuadraticStorage } from './quadratic.js';

/** Hard limits on what a file may ask us to allocate. */
export const QUADRATIC_FILE_LIMITS = {
  maxD: 1 << 20,
  maxN: 100_000,
  /** Dense: d ≤ 4096. */
  maxDenseD: 4096,
  /** n·d² dense entries or n·d band entries. */
  maxEntries: 1 << 26,
} as const;

const header = z.object({
  kind: z.literal('quadratic'),
  d: z.number().int().min(1).max(QUADRATIC_FILE_LIMITS.maxD),
  n: z.number().int().min(1).max(QUADRATIC_FILE_LIMITS.maxN),
});

function fail(error: z.ZodError, value: unknown, domain?: (issue: z.core.$ZodIssue) => string | null): never {
  throw zodValidationError(error, { value, ...(domain !== undefined ? { domain } : {}) });
}

/** The shapes of a quadratic file in its own terms, for wrong lengths. */
function quadraticWords(d: number, n: number): (issue: z.core.$ZodIssue) => string | null {
  return (issue) => {
    if (!((issue.code === 'too_small' || issue.code === 'too_big') && issue.origin === 'array')) return null;
    const path = issue.path.map(String);
    const got = issueLength(issue);
    const key = path.filter((p) => !/^\d+$/.test(p)).join('.');
    const depth = path.length;
    if (key === 'A' && depth === 1) return `must hold n = ${n} matrices of d × d = ${d} × ${d}, one per function; it has ${got}`;
    if (key === 'A' && depth === 2) return `each matrix has d = ${d} rows; this one has ${got}`;
    if (key === 'A' && depth === 3) return `each row has d = ${d} entries; this one has ${got}`;
    if ((key === 'b' || key === 'bands.diag' || key === 'bands.off') && path.length === key.split('.').length) {
      return `must hold n = ${n} vectors, one per function; it has ${got}`;
    }
    if (key === 'b' || key === 'bands.diag') return `each vector has d = ${d} entries; this one has ${got}`;
    if (key === 'bands.off') return `each vector has d − 1 = ${d - 1} entries (the off-diagonal); this one has ${got}`;
    if (key === 'x0') return `must have d = ${d} entries; it has ${got}`;
    return null;
  };
}

/** Reads a quadratic problem from a parsed JSON value; throws ValidationError naming the bad field. */
export function quadraticFromJson(value: unknown): QuadraticProblem {
  const h = header.safeParse(value, { reportInput: true });
  if (!h.success) fail(h.error, value);
  const { d, n } = h.data;
  const obj = value as Record<string, unknown>;
  const hasA = obj.A !== undefined;
  const hasBands = obj.bands !== undefined;
  if (hasA === hasBands)
    throw new ValidationError(hasA ? 'bands' : 'A', 'give exactly one of "A" (dense [n][d][d]) and "bands" ({diag: [n][d], off: [n][d-1]})');
  if (hasA) {
    if (d > QUADRATIC_FILE_LIMITS.maxDenseD) throw new ValidationError('d', `dense matrices need d ≤ ${QUADRATIC_FILE_LIMITS.maxDenseD}, got ${d}`);
    if (n * d * d > QUADRATIC_FILE_LIMITS.maxEntries) {
      throw new ValidationError('A', `n·d² = ${n * d * d} exceeds the limit of ${QUADRATIC_FILE_LIMITS.maxEntries} entries`);
    }
  } else if (n * d > QUADRATIC_FILE_LIMITS.maxEntries) {
    throw new ValidationError('bands', `n·d = ${n * d} exceeds the limit of ${QUADRATIC_FILE_LIMITS.maxEntries} entries`);
  }
  const vec = z.array(z.number()).length(d);
  const body = z.object({
    A: hasA ? z.array(z.array(vec).length(d)).length(n) : z.undefined().optional(),
    bands: hasBands ? z.object({ diag: z.array(vec).length(n), off: z.array(z.array(z.number()).length(d - 1)).length(n) }) : z.undefined().optional(),
    b: z.array(vec).length(n),
    x0: vec.optional(),
  });
  const r = body.safeParse(value, { reportInput: true });
  if (!r.success) fail(r.error, value, quadraticWords(d, n));
  const data = r.data;
  const b = new Float64Array(n * d);
  data.b.forEach((v, m) => b.set(v, m * d));
  let storage: QuadraticStorage;
  if (data.A) {
    storage = denseOrBands(data.A, d, n);
  } else {
    const bands = data.bands as { diag: number[][]; off: number[][] };
    const diag = new Float64Array(n * d);
    const off = new Float64Array(n * (d - 1));
    bands.diag.forEach((v, m) => diag.set(v, m * d));
    bands.off.forEach((v, m) => off.set(v, m * (d - 1)));
    storage = { kind: 'bands', diag, off };
  }
  return new QuadraticProblem({ d, n, storage, b, x0: data.x0 ? Float64Array.from(data.x0) : undefined });
}

/** Checks symmetry (to a relative 1e−12) and keeps tridiagonal matrices as bands. */
function denseOrBands(A: number[][][], d: number, n: number): QuadraticStorage {
  let tridiagonal = true;
  for (let m = 0; m < n; m++) {
    const rows = A[m];
    for (let i = 0; i < d; i++) {
      for (let j = i + 1; j < d; j++) {
        const u = rows[i][j];
        const l = rows[j][i];
        if (Math.abs(u - l) > 1e-12 * Math.max(1, Math.abs(u), Math.abs(l))) {
          throw new ValidationError(`A[${m}][${j}][${i}]`, `matrix ${m} is not symmetric: A[${m}][${i}][${j}] = ${u} but A[${m}][${j}][${i}] = ${l}`);
        }
        if (j > i + 1 && u !== 0) tridiagonal = false;
      }
    }
  }
  if (tridiagonal) {
    const diag = new Float64Array(n * d);
    const off = new Float64Array(n * (d - 1));
    for (let m = 0; m < n; m++) {
      for (let i = 0; i < d; i++) diag[m * d + i] = A[m][i][i];
      for (let i = 0; i < d - 1; i++) off[m * (d - 1) + i] = 0.5 * (A[m][i][i + 1] + A[m][i + 1][i]);
    }
    return { kind: 'bands', diag, off };
  }
  const a = new Float64Array(n * d * d);
  for (let m = 0; m < n; m++) {
    for (let i = 0; i < d; i++) {
      for (let j = 0; j < d; j++) a[m * d * d + i * d + j] = i === j ? A[m][i][i] : 0.5 * (A[m][i][j] + A[m][j][i]);
    }
  }
  return { kind: 'dense', a };
}

export interface QuadraticJson {
  kind: 'quadratic';
  d: number;
  n: number;
  A?: number[][][];
  bands?: { diag: number[][]; off: number[][] };
  b: number[][];
  x0: number[];
}

/** The file form of a problem; `quadraticFromJson(quadraticToJson(p))` has the same gradients. */
export function quadraticToJson(problem: QuadraticProblem): QuadraticJson {
  const d = problem.dim;
  const n = problem.shards;
  const s = problem.storage;
  const rows = (v: Float64Array, len: number): number[][] => Array.from({ length: n }, (_, m) => Array.from(v.subarray(m * len, (m + 1) * len)));
  const out: QuadraticJson = { kind: 'quadratic', d, n, b: rows(problem.b, d), x0: Array.from(problem.initialPoint()) };
  if (s.kind === 'bands') out.bands = { diag: rows(s.diag, d), off: rows(s.off, d - 1) };
  else out.A = Array.from({ length: n }, (_, m) => Array.from({ length: d }, (_, i) => Array.from(s.a.subarray(m * d * d + i * d, m * d * d + (i + 1) * d))));
  return out;
}
