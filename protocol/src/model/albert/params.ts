/**
 * The parameter layout of the tiny ALBERT: named tensors at fixed offsets of one flat
 * Float32Array (the vector the distributed methods see). Views (`subarray`) give each tensor
 * without copying. Initialisation is seeded (normal(0, initStd) weights, zero biases, unit
 * layer-norm scales), so every peer builds the same w⁰.
 */
import { type Rng } from '../../rng/xoshiro128.js';
import type { Shape } from '../graph/types.js';
import { sizeOf } from '../graph/types.js';
import type { AlbertConfig } from './config.js';

export type ParamInit = 'normal' | 'zeros' | 'ones';

export interface ParamSpec {
  readonly name: string;
  readonly shape: Shape;
  readonly offset: number;
  readonly size: number;
  readonly init: ParamInit;
  /** Weight decay applies (matrices; not biases, layer-norm parameters). */
  readonly decay: boolean;
}

export interface ParamLayout {
  readonly specs: readonly ParamSpec[];
  readonly size: number;
}

export function albertLayout(c: AlbertConfig): ParamLayout {
  const specs: ParamSpec[] = [];
  let offset = 0;
  const add = (name: string, shape: Shape, init: ParamInit): void => {
    const size = sizeOf(shape);
    specs.push({ name, shape, offset, size, init, decay: init === 'normal' });
    offset += size;
  };
  const { vocabSize: V, seqLen: S, embed: E, hidden: H, ffn: F, classes: C } = c;
  add('emb.word', [V, E], 'normal');
  add('emb.pos', [S, E], 'normal');
  add('emb.ln.g', [E], 'ones');
  add('emb.ln.b', [E], 'zeros');
  add('emb.proj.w', [E, H], 'normal');
  add('emb.proj.b', [H], 'zeros');
  add('layer.attn.qkv.w', [H, 3 * H], 'normal');
  add('layer.attn.qkv.b', [3 * H], 'zeros');
  add('layer.attn.out.w', [H, H], 'normal');
  add('layer.attn.out.b', [H], 'zeros');
  add('layer.ln1.g', [H], 'ones');
  add('layer.ln1.b', [H], 'zeros');
  add('layer.ffn.w1', [H, F], 'normal');
  add('layer.ffn.b1', [F], 'zeros');
  add('layer.ffn.w2', [F, H], 'normal');
  add('layer.ffn.b2', [H], 'zeros');
  add('layer.ln2.g', [H], 'ones');
  add('layer.ln2.b', [H], 'zeros');
  add('mlm.dense.w', [H, E], 'normal');
  add('mlm.dense.b', [E], 'zeros');
  add('mlm.ln.g', [E], 'ones');
  add('mlm.ln.b', [E], 'zeros');
  add('mlm.bias', [V], 'zeros');
  add('cls.pool.w', [H, H], 'normal');
  add('cls.pool.b', [H], 'zeros');
  add('cls.out.w', [H, C], 'normal');
  add('cls.out.b', [C], 'zeros');
  return { specs, size: offset };
}

/** Fills `out` (length layout.size) with the seeded initial parameters. */
export function initParams(
  layout: ParamLayout,
  std: number,
  rng: Rng,
  out: Float32Array | Float64Array = new Float32Array(layout.size),
): Float32Array | Float64Array {
  if (out.length !== layout.size) throw new RangeError(`initParams: expected ${layout.size} elements, got ${out.length}`);
  for (const s of layout.specs) {
    const v = out.subarray(s.offset, s.offset + s.size);
    switch (s.init) {
      case 'zeros':
        v.fill(0);
        break;
      case 'ones':
        v.fill(1);
        break;
      case 'normal':
        // Truncated at 2σ as BERT's initialiser.
        for (let i = 0; i < v.length; i++) {
          let z = rng.nextGaussian();
          while (Math.abs(z) > 2) z = rng.nextGaussian();
          v[i] = std * z;
        }
        break;
      default: {
        const never: never = s.init;
        throw new RangeError(`unknown init ${String(never)}`);
      }
    }
  }
  return out;
}

/** A view of one named tensor. */
export function paramView<A extends Float32Array | Float64Array>(layout: ParamLayout, params: A, name: string): A {
  const s = layout.specs.find((p) => p.name === name);
  if (!s) throw new RangeError(`no parameter ${name}`);
  return params.subarray(s.offset, s.offset + s.size) as A;
}
