/**
 * Bilinear problem files (SPEC §1): a parsed JSON value
 *   { "kind": "bilinear", "d", "M", "lambda", "A": [M][d][d], "a": [M][d], "b": [M][d] }
 * validated with zod. The value is untrusted: wrong shapes, missing fields, non-finite or
 * non-numeric entries and oversize problems raise a ValidationError whose `field` is the path of
 * the first offending value, e.g. `lambda`, `A[2][3]` or `b[0][17]`.
 */
import { z } from 'zod';
import { ValidationError } from '../errors.js';
import { issueLength, zodValidationError } from '../zod-errors.js';
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

function fail(error: z.ZodError, value: unknown, domain?: (issue: z.core.$ZodIssue) => string | null): never {
  throw zodValidationError(error, { value, ...(domain !== undefined ? { domain } : {}) });
}

/** The shapes of a bilinear file in its own terms, for wrong lengths of A, a and b. */
function bilinearWords(d: number, M: number): (issue: z.core.$ZodIssue) => string | null {
  return (issue) => {
    if (!((issue.code === 'too_small' || issue.code === 'too_big') && issue.origin === 'array')) return null;
    const [field] = issue.path;
    const depth = issue.path.length;
    const got = issueLength(issue);
    if (field === 'A' && depth === 1) return `must hold M = ${M} matrices of d × d = ${d} × ${d}, one per shard; it has ${got}`;
    if (field === 'A' && depth === 2) return `each matrix has d = ${d} rows; this one has ${got}`;
    if (field === 'A' && depth === 3) return `each row has d = ${d} entries; this one has ${got}`;
    if ((field === 'a' || field === 'b') && depth === 1) return `must hold M = ${M} vectors of d = ${d} entries, one per shard; it has ${got}`;
    if ((field === 'a' || field === 'b') && depth === 2) return `each vector has d = ${d} entries; this one has ${got}`;
    return null;
  };
}

/** Reads a bilinear problem from a parsed JSON value; throws ValidationError naming the bad field. */
export function bilinearFromJson(value: unknown): BilinearProblem {
  const h = header.safeParse(value, { reportInput: true });
  if (!h.success) fail(h.error, value);
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
  const r = body.safeParse(value, { reportInput: true });
  if (!r.success) fail(r.error, value, bilinearWords(d, M));
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
