/**
 * Reverse-mode differentiation over the builder's tape: walks the recorded ops backwards from a
 * scalar loss, asks each op's VJP for its inputs' gradients (only for inputs that depend on one of
 * the requested variables), and sums contributions that meet (fan-out). The backward ops go into
 * the same graph and are not themselves recorded (first-order only).
 */
import type { Graph } from './builder.js';
import { add } from './ops-elementwise.js';
import { type Tensor, GraphError, fmtShape, sameShape } from './types.js';

/**
 * Gradients of `loss` (a scalar, or any tensor when `seed` — the output cotangent — is given)
 * with respect to each of `wrt` (variable inputs). A variable the loss does not depend on gets null.
 */
export function gradients(g: Graph, loss: Tensor, wrt: readonly Tensor[], seed?: Tensor): (Tensor | null)[] {
  if (!seed && loss.shape.length !== 0) throw new GraphError('gradients', `loss must be a scalar, got ${fmtShape(loss.shape)}`);
  if (seed && !sameShape(seed.shape, loss.shape)) throw new GraphError('gradients', `seed ${fmtShape(seed.shape)} does not match loss ${fmtShape(loss.shape)}`);
  return g.noGrad(() => {
    // Tensors through which a gradient can reach a requested variable.
    const dep = new Set<number>(wrt.map((t) => t.id));
    for (const e of g.tape) if (e.inputs.some((t) => dep.has(t.id))) for (const o of e.outputs) dep.add(o.id);
    const grads = new Map<number, Tensor>();
    grads.set(loss.id, seed ?? g.scalar(1, loss.dtype));
    const accumulate = (t: Tensor, d: Tensor, op: string): void => {
      if (!sameShape(t.shape, d.shape) || t.dtype !== d.dtype) {
        throw new GraphError(op, `VJP produced ${fmtShape(d.shape)} ${d.dtype} for input ${t.name} ${fmtShape(t.shape)} ${t.dtype}`);
      }
      const prev = grads.get(t.id);
      grads.set(t.id, prev ? add(g, prev, d) : d);
    };
    for (let i = g.tape.length - 1; i >= 0; i--) {
      const e = g.tape[i];
      const gOut = e.outputs.map((o) => grads.get(o.id) ?? null);
      if (gOut.every((x) => x === null)) continue;
      const need = e.inputs.map((t) => dep.has(t.id));
      if (!need.some(Boolean)) continue;
      const gIn = e.vjp(gOut, need);
      if (gIn.length !== e.inputs.length) throw new GraphError(e.op, `VJP returned ${gIn.length} gradients for ${e.inputs.length} inputs`);
      e.inputs.forEach((t, k) => {
        const d = gIn[k];
        if (need[k] && d) accumulate(t, d, e.op);
      });
    }
    return wrt.map((t) => grads.get(t.id) ?? null);
  });
}
