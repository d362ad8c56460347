/**
 * Finite-difference gradient checks of builder graphs on a real runtime. A check builds
 * `loss = Σ out ⊙ W` (W a fixed random cotangent, so that every output element matters), asks the
 * builder for ∂loss/∂x_i, and compares chosen coordinates with central differences
 * (loss(x + h e_j) − loss(x − h e_j)) / 2h computed by the same session.
 */
import {
  Graph,
  GraphSession,
  compileGraph,
  gradients,
  ops,
  readOutput,
  scalarOutput,
  sizeOf,
  type FloatDType,
  type OrtRuntime,
  type Shape,
  type Tensor,
} from '@masha/protocol/model';
import { Rng } from '@masha/protocol/rng';

export interface CheckInput {
  readonly shape: Shape;
  /** Values in (lo, hi); default (−1, 1). */
  readonly range?: readonly [number, number];
  /** Not differentiated (constant data, e.g. indices are separate). */
  readonly fixed?: boolean;
}

export interface CheckOptions {
  readonly dtype: FloatDType;
  readonly seed: number;
  /** Coordinates checked per input (default 6). */
  readonly coords?: number;
  readonly h?: number;
  readonly atol?: number;
  readonly rtol?: number;
}

export interface CheckReport {
  readonly worst: number;
  readonly checked: number;
  readonly failures: string[];
}

/** Default tolerances: float64 h = 1e-6, |err| ≤ 1e-6 + 1e-5|fd|; float32 h = 1e-2, |err| ≤ 2e-3 + 2e-2|fd|. */
export const TOL = {
  float64: { h: 1e-6, atol: 1e-6, rtol: 1e-5 },
  float32: { h: 1e-2, atol: 2e-3, rtol: 2e-2 },
} as const;

export async function gradCheck(
  rt: OrtRuntime,
  inputs: readonly CheckInput[],
  build: (g: Graph, xs: Tensor[]) => Tensor,
  opts: CheckOptions,
): Promise<CheckReport> {
  const tol = TOL[opts.dtype];
  const h = opts.h ?? tol.h;
  const atol = opts.atol ?? tol.atol;
  const rtol = opts.rtol ?? tol.rtol;
  const rng = new Rng(opts.seed, 17, 29, 31);
  const g = new Graph(opts.dtype);
  const xs = inputs.map((s, i) => g.input(`x${i}`, s.shape, opts.dtype, !s.fixed));
  const out = build(g, xs);
  const wv = Float64Array.from({ length: sizeOf(out.shape) }, () => rng.nextFloat53() * 2 - 1);
  const w = g.constant(opts.dtype === 'float64' ? wv : Float32Array.from(wv), out.shape);
  const loss = ops.sumAll(g, ops.mul(g, out, w));
  g.output('loss', loss);
  const vars = xs.filter((_x, i) => !inputs[i].fixed);
  const grads = gradients(g, loss, vars);
  grads.forEach((d, i) => g.output(`g${i}`, d ?? ops.zeros(g, vars[i].shape)));
  const sess = await GraphSession.create(rt, compileGraph(g, 'gradcheck'));
  const data = inputs.map((s) => {
    const [lo, hi] = s.range ?? [-1, 1];
    const a = opts.dtype === 'float64' ? new Float64Array(sizeOf(s.shape)) : new Float32Array(sizeOf(s.shape));
    for (let i = 0; i < a.length; i++) a[i] = lo + (hi - lo) * rng.nextFloat53();
    return a;
  });
  data.forEach((a, i) => sess.bind(`x${i}`, a));
  const base = await sess.run();
  const analytic = vars.map((v, i) => {
    const a = new Float64Array(sizeOf(v.shape));
    readOutput(base, `g${i}`, a);
    return a;
  });
  const failures: string[] = [];
  let worst = 0;
  let checked = 0;
  let vi = 0;
  for (let i = 0; i < inputs.length; i++) {
    if (inputs[i].fixed) continue;
    const x = data[i];
    const n = x.length;
    const picks = new Set<number>();
    const want = Math.min(n, opts.coords ?? 6);
    while (picks.size < want) picks.add(rng.nextInt(n));
    for (const j of picks) {
      const x0 = x[j];
      x[j] = x0 + h;
      const lp = scalarOutput(await sess.run(), 'loss');
      x[j] = x0 - h;
      const lm = scalarOutput(await sess.run(), 'loss');
      x[j] = x0;
      const fd = (lp - lm) / (2 * h);
      const an = analytic[vi][j];
      const err = Math.abs(fd - an);
      const bound = atol + rtol * Math.abs(fd);
      worst = Math.max(worst, err / bound);
      checked++;
      if (!(err <= bound)) failures.push(`x${i}[${j}]: analytic ${an}, finite difference ${fd}, |err| ${err.toExponential(2)} > ${bound.toExponential(2)}`);
    }
    vi++;
  }
  await sess.release();
  return { worst, checked, failures };
}
