/**
 * Bilinear problem files (SPEC §1): a parsed JSON value
 *   { "kind": "bilinear", "d", "M", "lambda", "A": [M][d][d], "a": [M][d], "b": [M][d] }
 * validated with zod. The value is untrusted: wrong shapes, missing fields, non-finite or
 * non-numeric entries and oversize problems raise a ValidationError whose `field` is the path of
 * the first offending value, e.g. `lambda`, `A[2][3]` or `b[0][17]`.
 */
import { z } from 'zod';
import { ValidationError } from '../errors.js';
import { BilinearProblem } from './bilinear.js';

/** Hard limits on what a file may ask us to allocate. */
export const BILINEAR_FILE_LIMITS = {
  maxD: 4096,
  maxM: 100_000,
  /** M·d² matrix entries (8 bytes each in memory). */
  maxMatrixEntries: 1 << 26,
} as const;

const header = z.object({
  kind: z.literal('bilinear'),
  d: z.number().int().min(1).max(BILINEAR_FILE_LIMITS.maxD),
  M: z.number().int().min(1).max(BILINEAR_FILE_LIMITS.maxM),
  lambda: z.number().min(0),
});

/** Formats a zod issue path as `A[2][3]` / `pieces.a[0]`. */
function formatPath(path: readonly PropertyKey[]): string {
  let s = '';
  for (const p of path) {
    if (typeof p === 'number') s += `[${p}]`;
    else s += s === '' ? String(p) : `.${String(p)}`;
  }
  return s;
}

function fail(error: z.ZodError): never {
  const issue = error.issues[0];
  const more = error.issues.length > 1 ? ` (and ${error.issues.length - 1} more problem(s))` : '';
  throw new ValidationError(formatPath(issue.path), `${issue.message}${more}`);
}

/** Reads a bilinear problem from a parsed JSON value; throws ValidationError naming the bad field. */
export function bilinearFromJson(value: unknown): BilinearProblem {
  const h = header.safeParse(value);
  if (!h.success) fail(h.error);
  const { d, M, lambda } = h.data;
  if (M * d * d > BILINEAR_FILE_LIMITS.maxMatrixEntries) {
    throw new ValidationError('A', `M·d² = ${M * d * d} exceeds the limit of ${BILINEAR_FILE_LIMITS.maxMatrixEntries} entries`);
  }
  const vec = z.array(z.number()).length(d);
  const body = z.object({
    A: z.array(z.array(vec).length(d)).length(M),
    a: z.array(vec).length(M),
    b: z.array(vec).length(M),
  });
  const r = body.safeParse(value);
  if (!r.success) fail(r.error);
  const A = r.data.A.map((rows) => {
    const out = new Float64Array(d * d);
    for (let i = 0; i < d; i++) out.set(rows[i], i * d);
    return out;
  });
  const a = r.data.a.map((v) => Float64Array.from(v));
  const b = r.data.b.map((v) => Float64Array.from(v));
  return new BilinearProblem({ d, M, lambda, A, a, b });
}

/** JSON value of a bilinear problem file (the finite-sum pieces, if any, are not written). */
export interface BilinearJson {
  kind: 'bilinear';
  d: number;
  M: number;
  lambda: number;
  A: number[][][];
  a: number[][];
  b: number[][];
}

/** The file form of a problem; `bilinearFromJson(bilinearToJson(p))` has the same operators. */
export function bilinearToJson(problem: BilinearProblem): BilinearJson {
  const { d, M, lambda } = problem.data;
  return {
    kind: 'bilinear',
    d,
    M,
    lambda,
    A: problem.data.A.map((m) => Array.from({ length: d }, (_, i) => Array.from(m.subarray(i * d, (i + 1) * d)))),
    a: problem.data.a.map((v) => Array.from(v)),
    b: problem.data.b.map((v) => Array.from(v)),
  };
}
