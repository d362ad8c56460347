/**
 * Dense vector kernels. Plain indexed loops over typed arrays: no per-element allocation, no
 * closures, so V8 compiles each to a tight loop. `out` may alias an input where noted.
 */
export type Vec = Float64Array | Float32Array;

/** out ← x (lengths must match). */
export function copy(x: Vec, out: Vec): Vec {
  out.set(x);
  return out;
}

/** out ← 0. */
export function zero(out: Vec): Vec {
  out.fill(0);
  return out;
}

/** out ← a·x. out may alias x. */
export function scale(a: number, x: Vec, out: Vec): Vec {
  const n = x.length;
  for (let i = 0; i < n; i++) out[i] = a * x[i];
  return out;
}

/** y ← y + a·x. */
export function axpy(a: number, x: Vec, y: Vec): Vec {
  const n = x.length;
  for (let i = 0; i < n; i++) y[i] += a * x[i];
  return y;
}

/** out ← a·x + b·y. out may alias x or y. */
export function lincomb(a: number, x: Vec, b: number, y: Vec, out: Vec): Vec {
  const n = x.length;
  for (let i = 0; i < n; i++) out[i] = a * x[i] + b * y[i];
  return out;
}

/** out ← x + y. */
export function add(x: Vec, y: Vec, out: Vec): Vec {
  const n = x.length;
  for (let i = 0; i < n; i++) out[i] = x[i] + y[i];
  return out;
}

/** out ← x − y. */
export function sub(x: Vec, y: Vec, out: Vec): Vec {
  const n = x.length;
  for (let i = 0; i < n; i++) out[i] = x[i] - y[i];
  return out;
}

/** ⟨x, y⟩. */
export function dot(x: Vec, y: Vec): number {
  const n = x.length;
  let s = 0;
  for (let i = 0; i < n; i++) s += x[i] * y[i];
  return s;
}

/** ‖x‖². */
export function normSq(x: Vec): number {
  const n = x.length;
  let s = 0;
  for (let i = 0; i < n; i++) s += x[i] * x[i];
  return s;
}

/** ‖x‖. */
export function norm(x: Vec): number {
  return Math.sqrt(normSq(x));
}

/** ‖x − y‖². */
export function distSq(x: Vec, y: Vec): number {
  const n = x.length;
  let s = 0;
  for (let i = 0; i < n; i++) {
    const t = x[i] - y[i];
    s += t * t;
  }
  return s;
}

/** ‖x‖_p for p ≥ 1 or p = Infinity. */
export function normP(x: Vec, p: number): number {
  const n = x.length;
  if (p === Infinity) {
    let m = 0;
    for (let i = 0; i < n; i++) {
      const a = Math.abs(x[i]);
      if (a > m) m = a;
    }
    return m;
  }
  if (p === 2) return norm(x);
  if (p === 1) {
    let s = 0;
    for (let i = 0; i < n; i++) s += Math.abs(x[i]);
    return s;
  }
  let s = 0;
  for (let i = 0; i < n; i++) s += Math.abs(x[i]) ** p;
  return s ** (1 / p);
}

/** True when every element is finite. */
export function allFinite(x: ArrayLike<number>): boolean {
  const n = x.length;
  for (let i = 0; i < n; i++) {
    const v = x[i];
    if (v - v !== 0) return false;
  }
  return true;
}
