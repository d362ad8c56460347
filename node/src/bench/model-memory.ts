/**
 * `node dist/bench/model-memory.js BACKEND BATCH [no-arena]`: one training peer's memory in a fresh process.
 * Prints `{ params, rssBefore, rssAfter, stateBytes }` as JSON: RSS once the runtime is loaded,
 * and after the operator, its float32 state (w, F(w), Adam/LAMB moments) and three training steps.
 * BACKEND: node | wasm | tfjs-wasm.
 */
import { ModelOperator, Optimizer, parseModelTask, parseOptimizer } from '@masha/protocol/model';
import { createRuntime } from '../model/runtimes.js';
import { syntheticBatch, syntheticSet } from './model-fixture.js';

const backend = process.argv[2] ?? 'node';
const arena = process.argv[4] !== 'no-arena';
const batch = Number(process.argv[3] ?? 16);
const task = parseModelTask({ objective: 'classify', batch });
const c = task.model;
const gc = (globalThis as { gc?: () => void }).gc;
const rss = (): number => {
  gc?.();
  return process.memoryUsage().rss;
};

if (backend === 'tfjs-wasm') {
  const tf = await import('@tensorflow/tfjs');
  const { TfAlbert, useTfBackend } = await import('./tfjs-albert.js');
  const { albertLayout, initParams } = await import('@masha/protocol/model');
  const { Rng } = await import('@masha/protocol/rng');
  await useTfBackend('wasm');
  const before = rss();
  const layout = albertLayout(c);
  const w = initParams(layout, c.initStd, new Rng(1, 2, 3, 4)) as Float32Array;
  const m = new TfAlbert(c, layout, w, batch);
  const b = syntheticBatch(c, batch, 3);
  const ids = tf.tensor2d(b.ids, [batch, c.seqLen], 'int32');
  const mask = tf.tensor2d(b.mask as Float32Array, [batch, c.seqLen]);
  const labels = tf.tensor1d(b.labels, 'int32');
  // Adam moments as TF.js would hold them (two more float32 copies of the parameters).
  const moments = [tf.zeros([layout.size]), tf.zeros([layout.size])];
  for (let i = 0; i < 3; i++) m.step(ids, mask, labels);
  const after = rss();
  process.stdout.write(`${JSON.stringify({ params: layout.size, rssBefore: before, rssAfter: after, stateBytes: 16 * layout.size })}\n`);
  moments.forEach((t) => t.dispose());
} else {
  const rt = await createRuntime(backend === 'wasm' ? 'wasm' : 'node', { arena });
  const before = rss();
  const op = await ModelOperator.create(rt, task, syntheticSet(c, 64, 5));
  const w = op.initialParams();
  const g = new Float32Array(op.dim);
  const opt = new Optimizer(parseOptimizer({ name: 'lamb', lr: 1e-3 }), op.layout);
  for (let i = 0; i < 3; i++) {
    await op.evaluate(0, i, w, g);
    opt.step(w, g);
  }
  const after = rss();
  process.stdout.write(`${JSON.stringify({ params: op.dim, rssBefore: before, rssAfter: after, stateBytes: w.byteLength + g.byteLength + opt.stateBytes })}\n`);
  await op.release();
}
process.exit(0);
