/**
 * The whole tiny ALBERT's gradient — every parameter tensor and the embedding perturbation ρ —
 * against central finite differences in float64 (h = 1e-6, |err| ≤ 1e-6 + 1e-5·|fd|), for both
 * objectives, on a small configuration with padding, two applications of the shared layer and
 * parameters large enough (std 0.3) that every nonlinearity matters.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  GraphSession,
  IO,
  buildAlbertGraph,
  compileGraph,
  initParams,
  parseAlbertConfig,
  readOutput,
  scalarOutput,
  type Objective,
  type OrtRuntime,
} from '@masha/protocol/model';
import { Rng } from '@masha/protocol/rng';
import { onnxruntimeNode } from '../src/model/runtimes.js';

let rt: OrtRuntime;
beforeAll(async () => {
  rt = await onnxruntimeNode();
});

const config = parseAlbertConfig({
  vocabSize: 16,
  seqLen: 6,
  embed: 4,
  hidden: 8,
  heads: 2,
  ffn: 12,
  layers: 2,
  classes: 3,
  mlmSlots: 2,
  gelu: 'tanh',
  lnEps: 1e-5,
});
const B = 2;

async function check(objective: Objective): Promise<{ failures: string[]; checked: number }> {
  const ag = buildAlbertGraph({ config, objective, batch: B, kind: 'train', float: 'float64' });
  const sess = await GraphSession.create(rt, compileGraph(ag.graph));
  const rng = new Rng(99, 98, 97, objective === 'mlm' ? 1 : 2);
  const params = initParams(ag.layout, 0.3, rng, new Float64Array(ag.layout.size)) as Float64Array;
  // Layer-norm scales and biases away from their 1/0 init so that their gradients are generic.
  for (const s of ag.layout.specs) if (s.init !== 'normal') for (let i = 0; i < s.size; i++) params[s.offset + i] += 0.3 * (rng.nextFloat53() - 0.5);
  for (const s of ag.layout.specs) sess.bind(IO.param(s.name), params.subarray(s.offset, s.offset + s.size));
  const S = config.seqLen;
  const ids = Int32Array.from({ length: B * S }, () => 5 + rng.nextInt(11));
  const mask = Float64Array.from({ length: B * S }, (_v, i) => (i % S < (i < S ? S : 4) ? 1 : 0)); // row 1 padded after 4 tokens
  const delta = Float64Array.from({ length: B * S * config.embed }, () => 0.2 * (rng.nextFloat53() - 0.5));
  sess.bind(IO.ids, ids);
  sess.bind(IO.mask, mask);
  sess.bind(IO.delta, delta);
  if (objective === 'classify') {
    sess.bind(IO.labels, Int32Array.from([2, 0]));
    sess.bind(IO.weights, Float64Array.from([1, 0.5]));
  } else {
    sess.bind(IO.mlmPos, Int32Array.from([1, 3, S + 2, S + 0]));
    sess.bind(IO.mlmLabels, Int32Array.from([7, 9, 12, 5]));
    sess.bind(IO.mlmWeights, Float64Array.from([1, 1, 1, 0]));
  }
  const base = await sess.run();
  const grad = new Float64Array(ag.layout.size);
  readOutput(base, IO.grad, grad);
  const gDelta = new Float64Array(delta.length);
  readOutput(base, IO.gradDelta, gDelta);
  const h = 1e-6;
  const failures: string[] = [];
  let checked = 0;
  const probe = async (arr: Float64Array, j: number, analytic: number, what: string): Promise<void> => {
    const x0 = arr[j];
    arr[j] = x0 + h;
    const lp = scalarOutput(await sess.run(), IO.loss);
    arr[j] = x0 - h;
    const lm = scalarOutput(await sess.run(), IO.loss);
    arr[j] = x0;
    const fd = (lp - lm) / (2 * h);
    checked++;
    if (!(Math.abs(fd - analytic) <= 1e-6 + 1e-5 * Math.abs(fd))) failures.push(`${what}: analytic ${analytic}, finite difference ${fd}`);
  };
  // Three coordinates of every parameter tensor (tensors the objective does not use must get 0).
  for (const s of ag.layout.specs) {
    for (let k = 0; k < Math.min(3, s.size); k++) {
      const j = s.offset + rng.nextInt(s.size);
      await probe(params, j, grad[j], `${s.name}[${j - s.offset}]`);
    }
  }
  // ρ: coordinates on real tokens and on padding (whose gradient is ~0 through the masked attention, but not exactly: they still feed their own rows).
  for (let k = 0; k < 12; k++) {
    const j = rng.nextInt(delta.length);
    await probe(delta, j, gDelta[j], `delta[${j}]`);
  }
  await sess.release();
  return { failures, checked };
}

describe('tiny ALBERT gradient vs finite differences (float64)', () => {
  it('classify objective: all parameters and ρ', async () => {
    const r = await check('classify');
    expect(r.failures).toEqual([]);
    expect(r.checked).toBeGreaterThan(80);
  });
  it('mlm objective: all parameters and ρ', async () => {
    const r = await check('mlm');
    expect(r.failures).toEqual([]);
    expect(r.checked).toBeGreaterThan(80);
  });
});
