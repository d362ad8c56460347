/**
 * Shape and indexing ops: Transpose, Concat, Slice, Pad, Gather, GatherElements, and the
 * scatter-adds that are their VJPs (ScatterND / ScatterElements with reduction "add", opset 16+).
 */
import type { Graph } from './builder.js';
import { cast, reshape, zeros } from './ops-elementwise.js';
import { type Shape, type Tensor, GraphError, fmtShape, isFloat, normAxis, sizeOf } from './types.js';

export function transpose(g: Graph, x: Tensor, perm: readonly number[]): Tensor {
  const r = x.shape.length;
  if (perm.length !== r || new Set(perm).size !== r || perm.some((p) => p < 0 || p >= r)) {
    throw new GraphError('Transpose', `bad permutation [${perm.join(',')}] for rank ${r}`);
  }
  if (perm.every((p, i) => p === i)) return x;
  const inv = new Array<number>(r);
  perm.forEach((p, i) => (inv[p] = i));
  return g.op1(
    'Transpose',
    [x],
    perm.map((p) => x.shape[p]),
    x.dtype,
    { perm: { kind: 'ints', value: [...perm] } },
    ([gy]) => [gy ? transpose(g, gy, inv) : null],
  );
}

/** Swaps the last two axes. */
export function transposeLast2(g: Graph, x: Tensor): Tensor {
  const r = x.shape.length;
  if (r < 2) throw new GraphError('Transpose', `rank ${r} < 2`);
  const perm = x.shape.map((_d, i) => i);
  perm[r - 2] = r - 1;
  perm[r - 1] = r - 2;
  return transpose(g, x, perm);
}

/** Slice along axes with step 1 (`ends` exclusive, non-negative, within bounds). */
export function slice(g: Graph, x: Tensor, starts: readonly number[], ends: readonly number[], axes: readonly number[]): Tensor {
  if (starts.length !== axes.length || ends.length !== axes.length) throw new GraphError('Slice', 'starts, ends and axes differ in length');
  const shape = [...x.shape];
  const norm = axes.map((a) => normAxis('Slice', a, x.shape.length));
  norm.forEach((a, i) => {
    if (!(starts[i] >= 0 && ends[i] > starts[i] && ends[i] <= x.shape[a]))
      throw new GraphError('Slice', `bad range [${starts[i]}, ${ends[i]}) on axis ${a} of ${fmtShape(x.shape)}`);
    shape[a] = ends[i] - starts[i];
  });
  return g.op1('Slice', [x, g.ints(starts), g.ints(ends), g.ints(norm)], shape, x.dtype, {}, ([gy]) => {
    if (!gy) return [null, null, null, null];
    const pads = new Array<number>(2 * x.shape.length).fill(0);
    norm.forEach((a, i) => {
      pads[a] = starts[i];
      pads[x.shape.length + a] = x.shape[a] - ends[i];
    });
    return [pad(g, gy, pads), null, null, null];
  });
}

/** Zero padding; `pads` = [begin_0, …, begin_{r−1}, end_0, …, end_{r−1}] (non-negative). The VJP slices. */
export function pad(g: Graph, x: Tensor, pads: readonly number[]): Tensor {
  const r = x.shape.length;
  if (pads.length !== 2 * r || pads.some((p) => !Number.isInteger(p) || p < 0)) throw new GraphError('Pad', `bad pads [${pads.join(',')}]`);
  const shape = x.shape.map((d, i) => d + pads[i] + pads[r + i]);
  const axes: number[] = [];
  const starts: number[] = [];
  const ends: number[] = [];
  x.shape.forEach((d, i) => {
    if (pads[i] !== 0 || pads[r + i] !== 0) {
      axes.push(i);
      starts.push(pads[i]);
      ends.push(pads[i] + d);
    }
  });
  if (axes.length === 0) return x;
  return g.op1('Pad', [x, g.ints(pads)], shape, x.dtype, { mode: { kind: 'string', value: 'constant' } }, ([gy]) => [
    gy ? slice(g, gy, starts, ends, axes) : null,
    null,
  ]);
}

export function concat(g: Graph, xs: readonly Tensor[], axis: number): Tensor {
  if (xs.length === 0) throw new GraphError('Concat', 'no inputs');
  if (xs.length === 1) return xs[0];
  const r = xs[0].shape.length;
  const a = normAxis('Concat', axis, r);
  const shape = [...xs[0].shape];
  shape[a] = 0;
  for (const t of xs) {
    if (t.dtype !== xs[0].dtype || t.shape.length !== r || t.shape.some((d, i) => i !== a && d !== xs[0].shape[i])) {
      throw new GraphError('Concat', `incompatible input ${t.name} ${fmtShape(t.shape)} (${t.dtype})`);
    }
    shape[a] += t.shape[a];
  }
  return g.op1('Concat', xs, shape, xs[0].dtype, { axis: { kind: 'int', value: a } }, ([gy], need) => {
    if (!gy) return xs.map(() => null);
    let off = 0;
    return xs.map((t, i) => {
      const s = off;
      off += t.shape[a];
      return need[i] ? slice(g, gy, [s], [off], [a]) : null;
    });
  });
}

/**
 * Gather rows along axis 0 (embedding lookup): `table[indices]`, shape indices.shape + table.shape[1:].
 * The VJP scatter-adds the output gradient into a zero table (ScatterND, reduction add).
 */
export function gather(g: Graph, table: Tensor, indices: Tensor): Tensor {
  if (indices.dtype !== 'int32' && indices.dtype !== 'int64') throw new GraphError('Gather', `indices must be int32/int64, got ${indices.dtype}`);
  const rest = table.shape.slice(1);
  const shape = [...indices.shape, ...rest];
  return g.op1('Gather', [table, indices], shape, table.dtype, { axis: { kind: 'int', value: 0 } }, ([gy], need) => {
    if (!gy || !need[0]) return [null, null];
    const n = sizeOf(indices.shape);
    const idx = reshape(g, cast(g, indices, 'int64'), [n, 1]);
    const upd = reshape(g, gy, [n, ...rest]);
    return [scatterNDAdd(g, zeros(g, table.shape, table.dtype), idx, upd), null];
  });
}

/** ScatterND with reduction add (not differentiable here: used by VJPs). */
export function scatterNDAdd(g: Graph, data: Tensor, indices: Tensor, updates: Tensor): Tensor {
  if (indices.dtype !== 'int64') throw new GraphError('ScatterND', 'indices must be int64');
  return g.op1('ScatterND', [data, indices, updates], data.shape, data.dtype, { reduction: { kind: 'string', value: 'add' } });
}

/** GatherElements along `axis`; the VJP is ScatterElements with reduction add. */
export function gatherElements(g: Graph, x: Tensor, indices: Tensor, axis: number): Tensor {
  if (indices.dtype !== 'int32' && indices.dtype !== 'int64') throw new GraphError('GatherElements', `indices must be int32/int64, got ${indices.dtype}`);
  if (indices.shape.length !== x.shape.length)
    throw new GraphError('GatherElements', `rank of indices ${fmtShape(indices.shape)} differs from ${fmtShape(x.shape)}`);
  const a = normAxis('GatherElements', axis, x.shape.length);
  return g.op1('GatherElements', [x, indices], indices.shape, x.dtype, { axis: { kind: 'int', value: a } }, ([gy], need) => {
    if (!gy || !need[0] || !isFloat(x.dtype)) return [null, null];
    return [
      g.op1('ScatterElements', [zeros(g, x.shape, x.dtype), indices, gy], x.shape, x.dtype, {
        axis: { kind: 'int', value: a },
        reduction: { kind: 'string', value: 'add' },
      }),
      null,
    ];
  });
}

/** Reshape helper that also checks the shape is static and positive. */
export function flatten2(g: Graph, x: Tensor): Tensor {
  const last = x.shape[x.shape.length - 1];
  return reshape(g, x, [sizeOf(x.shape) / last, last] as Shape);
}

/** Split along `axis` into parts of the given sizes (Split, opset 13); the VJP concatenates (zeros for parts without a gradient). */
export function split(g: Graph, x: Tensor, sizes: readonly number[], axis: number): Tensor[] {
  const a = normAxis('Split', axis, x.shape.length);
  if (sizes.reduce((p, q) => p + q, 0) !== x.shape[a] || sizes.some((s) => !Number.isInteger(s) || s < 1)) {
    throw new GraphError('Split', `sizes [${sizes.join(',')}] do not partition axis ${a} of ${fmtShape(x.shape)}`);
  }
  const outs = sizes.map((s) => {
    const shape = [...x.shape];
    shape[a] = s;
    return { name: 'split', shape, dtype: x.dtype };
  });
  const ys = g.node('Split', [x, g.ints(sizes)], outs, { axis: { kind: 'int', value: a } }, (gys) => {
    if (gys.every((t) => t === null)) return [null, null];
    return [
      concat(
        g,
        gys.map((t, i) => t ?? zeros(g, ys[i].shape, x.dtype)),
        a,
      ),
      null,
    ];
  });
  return ys;
}
