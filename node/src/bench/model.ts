/**
 * Model benchmarks (issue "Model training with ONNX Runtime"): forward + backward time per batch
 * of the default tiny ALBERT (classification, batch 16, sequence 64, all gradients read back into
 * JS) on onnxruntime-node, onnxruntime-web's wasm backend in Node, and TF.js (wasm backend: the
 * baseline; CPU backend for context) running the same architecture with `tf.variableGrads`,
 * stock and with dense-layer gradients that avoid the wasm backend's slow transposed matMul;
 * the backends are timed in alternation so that they share the machine's load. Also: the ONNX
 * graph build time, and a training peer's memory per parameter (fresh child processes).
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { AlbertSession, IO, buildAlbertGraph, compileGraph, parseAlbertConfig, readOutput, scalarOutput, type OrtRuntime } from '@masha/protocol/model';
import { progress, resultRow, type BenchResult } from './row.js';
import { createRuntime } from '../model/runtimes.js';
import { TfAlbert, useTfBackend } from './tfjs-albert.js';
import { syntheticBatch } from './model-fixture.js';

const BATCH = 16;
const now = (): number => performance.now();

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function ortStepper(rt: OrtRuntime): Promise<{ step: () => Promise<number>; createMs: number; release: () => Promise<void> }> {
  const c = parseAlbertConfig({});
  const t0 = now();
  const s = await AlbertSession.create(rt, c, 'classify', 'train', BATCH);
  const createMs = now() - t0;
  const b = syntheticBatch(c, BATCH, 3);
  s.batch.ids.set(b.ids);
  s.batch.mask.set(b.mask);
  s.batch.labels.set(b.labels);
  s.batch.weights.set(b.weights);
  const { initParams } = await import('@masha/protocol/model');
  const { Rng } = await import('@masha/protocol/rng');
  const w = initParams(s.layout, c.initStd, new Rng(1, 2, 3, 4)) as Float32Array;
  s.bindParams(w);
  const grad = new Float32Array(s.layout.size);
  return {
    createMs,
    step: async () => {
      const out = await s.run();
      readOutput(out, IO.grad, grad);
      return scalarOutput(out, IO.loss);
    },
    release: () => s.release(),
  };
}

function memory(backend: string, arena = true): { params: number; rssBefore: number; rssAfter: number; stateBytes: number } {
  const entry = fileURLToPath(new URL('./model-memory.js', import.meta.url));
  const r = spawnSync(process.execPath, ['--expose-gc', entry, backend, String(BATCH), arena ? 'arena' : 'no-arena'], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`model-memory ${backend} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as { params: number; rssBefore: number; rssAfter: number; stateBytes: number };
}

export async function modelBenchmarks(include: (name: string) => boolean): Promise<BenchResult[]> {
  const rows: BenchResult[] = [];
  const c = parseAlbertConfig({});
  const names = {
    node: 'model fwd+bwd per batch: onnxruntime-node',
    wasm: 'model fwd+bwd per batch: onnxruntime-web wasm (Node)',
    tfcpu: 'model fwd+bwd per batch: TF.js cpu backend',
    tuned: 'model fwd+bwd per batch: TF.js wasm with explicit-transpose matMul gradients',
    nodeVsTuned: 'model fwd+bwd per batch: onnxruntime-node (vs the tuned TF.js)',
    build: 'model ONNX train graph build (default ALBERT)',
    memNode: 'model training peer memory: RSS growth per parameter, onnxruntime-node',
    memWasm: 'model training peer memory: RSS growth per parameter, onnxruntime-web wasm',
    memNoArena: 'model training peer memory: RSS growth per parameter, onnxruntime-node without its memory arena',
    state: 'model training peer memory: float32 state per parameter (w, F, LAMB m, v)',
  };
  const baseName = 'TF.js wasm backend, same model, tf.variableGrads';
  if ([names.node, names.wasm, names.tfcpu, names.build, names.tuned, names.nodeVsTuned].some(include)) {
    progress(`model: default ALBERT, batch ${BATCH}, sequence ${c.seqLen}`);
    const builds: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = now();
      compileGraph(buildAlbertGraph({ config: c, objective: 'classify', batch: BATCH, kind: 'train' }).graph);
      builds.push(now() - t0);
    }
    const node = await ortStepper(await createRuntime('node'));
    const wasm = await ortStepper(await createRuntime('wasm'));
    if (include(names.build))
      rows.push(resultRow(names.build, median(builds), 'ms', { name: 'onnxruntime-node session creation for it', value: node.createMs }));
    await useTfBackend('wasm');
    const { albertLayout, initParams } = await import('@masha/protocol/model');
    const { Rng } = await import('@masha/protocol/rng');
    const layout = albertLayout(c);
    const w = initParams(layout, c.initStd, new Rng(1, 2, 3, 4)) as Float32Array;
    const b = syntheticBatch(c, BATCH, 3);
    const ids = tf.tensor2d(b.ids, [BATCH, c.seqLen], 'int32');
    const mask = tf.tensor2d(b.mask as Float32Array, [BATCH, c.seqLen]);
    const labels = tf.tensor1d(b.labels, 'int32');
    const tfm = new TfAlbert(c, layout, w, BATCH);
    const tuned = new TfAlbert(c, layout, w, BATCH, true);
    const lt = tfm.step(ids, mask, labels).loss;
    const ltt = tuned.step(ids, mask, labels).loss;
    const ln = await node.step();
    const lw = await wasm.step();
    progress(
      `model: loss at w⁰ — onnxruntime-node ${ln.toFixed(6)}, onnxruntime-web ${lw.toFixed(6)}, TF.js ${lt.toFixed(6)}, tuned TF.js ${ltt.toFixed(6)} (same model and batch)`,
    );
    if (!(Math.abs(ln - lt) < 1e-4 && Math.abs(ln - lw) < 1e-4 && Math.abs(ln - ltt) < 1e-4))
      throw new Error('the implementations disagree on the loss: not the same model');
    const times = { node: [] as number[], wasm: [] as number[], tf: [] as number[], tuned: [] as number[] };
    const t0 = now();
    for (let r = 0; r < 20 && (r < 5 || now() - t0 < 20_000); r++) {
      let t = now();
      tfm.step(ids, mask, labels);
      times.tf.push(now() - t);
      t = now();
      tuned.step(ids, mask, labels);
      times.tuned.push(now() - t);
      t = now();
      await node.step();
      times.node.push(now() - t);
      t = now();
      await wasm.step();
      times.wasm.push(now() - t);
    }
    const base = { name: baseName, value: median(times.tf) };
    progress(
      `model: ms per batch (median of ${times.tf.length}) — onnxruntime-node ${median(times.node).toFixed(1)}, onnxruntime-web wasm ${median(times.wasm).toFixed(1)}, TF.js wasm ${base.value.toFixed(1)}, tuned TF.js wasm ${median(times.tuned).toFixed(1)}`,
    );
    if (include(names.node)) rows.push(resultRow(names.node, median(times.node), 'ms', base));
    if (include(names.wasm)) rows.push(resultRow(names.wasm, median(times.wasm), 'ms', base));
    if (include(names.tuned)) rows.push(resultRow(names.tuned, median(times.tuned), 'ms', base));
    if (include(names.nodeVsTuned))
      rows.push(
        resultRow(names.nodeVsTuned, median(times.node), 'ms', { name: 'TF.js wasm with explicit-transpose matMul gradients', value: median(times.tuned) }),
      );
    tfm.dispose();
    tuned.dispose();
    await node.release();
    await wasm.release();
    if (include(names.tfcpu)) {
      await useTfBackend('cpu');
      const cpu = new TfAlbert(c, layout, w, BATCH);
      cpu.step(ids, mask, labels);
      const ts: number[] = [];
      for (let i = 0; i < 1; i++) {
        const t = now();
        cpu.step(ids, mask, labels);
        ts.push(now() - t);
      }
      cpu.dispose();
      rows.push(resultRow(names.tfcpu, median(ts), 'ms', base));
    }
    ids.dispose();
    mask.dispose();
    labels.dispose();
  }
  if ([names.memNode, names.memWasm, names.memNoArena, names.state].some(include)) {
    progress('model: memory of a training peer (fresh processes)');
    const tfMem = memory('tfjs-wasm');
    const perParam = (m: { params: number; rssBefore: number; rssAfter: number }): number => (m.rssAfter - m.rssBefore) / m.params;
    const base = { name: 'TF.js wasm backend, same model and state', value: perParam(tfMem) };
    const n = memory('node');
    if (include(names.memNode)) rows.push(resultRow(names.memNode, perParam(n), 'B/param', base));
    if (include(names.memNoArena)) rows.push(resultRow(names.memNoArena, perParam(memory('node', false)), 'B/param', base));
    if (include(names.memWasm)) rows.push(resultRow(names.memWasm, perParam(memory('wasm')), 'B/param', base));
    if (include(names.state)) rows.push(resultRow(names.state, n.stateBytes / n.params, 'B/param'));
  }
  return rows;
}
