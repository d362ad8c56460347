/**
 * `masha train --local` end to end on a tiny generated dataset and model: files written, the
 * summary's fields, the loss going down, reproducibility of a seeded run, and one-line errors that
 * name the flag, the model field or the damaged data file.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/program.js';
import { buildDataset } from '../src/model/build-data.js';
import type { TrainSummary } from '../src/model/train.js';
import { probeGpuProviders } from '../src/model/device.js';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) } },
    out: () => out.join(''),
    err: () => err.join(''),
  };
}

const root = mkdtempSync(join(tmpdir(), 'masha-train-'));
const data = join(root, 'data');
const MODEL = JSON.stringify({ vocabSize: 64, seqLen: 16, embed: 16, hidden: 32, heads: 2, ffn: 64, layers: 2, mlmSlots: 3 });
const spam = ['free', 'money', 'click', 'offer', 'cash', 'winner', 'prize', 'now'];
const ham = ['meeting', 'patch', 'linux', 'kernel', 'list', 'report', 'build', 'review'];

beforeAll(async () => {
  const messages = Array.from({ length: 160 }, (_v, i) => {
    const label = i % 3 === 0 ? 1 : 0;
    const pool = label ? spam : ham;
    return {
      text: Array.from({ length: 12 + (i % 7) }, (_w, k) => (k % 4 === 3 ? ham[(i + k) % 8] : pool[(i * 5 + k * 3) % 8])).join(' '),
      label,
      group: label ? 'spam-1' : 'easy-ham-1',
    };
  });
  await buildDataset({ out: data, messages, vocabSize: 64, maxTokens: 24, trainFiles: 4, testFiles: 2, seed: 1 });
});

const args = (out: string, extra: string[] = []): string[] => [
  'train',
  '--local',
  '--data',
  data,
  '--model',
  MODEL,
  '--steps',
  '30',
  '--batch',
  '8',
  '--eval-every',
  '10',
  '--eval-examples',
  '16',
  '--eval-batch',
  '8',
  '--robust-examples',
  '16',
  '--attack-steps',
  '2',
  '--progress',
  'off',
  '--device',
  'cpu',
  '--out',
  out,
  ...extra,
];

describe('masha train --local', () => {
  it('trains, writes summary.json, CSVs, the SVG and the parameters; --json prints the summary', async () => {
    const out = join(root, 'run1');
    const c = capture();
    expect(await runCli([...args(out), '--json', '--optimizer', 'adam', '--lr', '0.003'], c.io)).toBe(0);
    const s = JSON.parse(c.out()) as TrainSummary;
    expect(s.stepsDone).toBe(30);
    expect(s.curve).toHaveLength(30);
    expect(s.evals.map((e) => e.step)).toEqual([0, 10, 20, 30]);
    const first = s.curve.slice(0, 5).reduce((a, p) => a + p.loss, 0) / 5;
    const last = s.curve.slice(-5).reduce((a, p) => a + p.loss, 0) / 5;
    expect(last).toBeLessThan(first);
    expect(s.final.accuracy).toBeGreaterThan(0.5);
    expect(s.final.robustAccuracy).not.toBeNull();
    expect(s.final.robustAccuracy as number).toBeLessThanOrEqual(1);
    expect(s.memory.stateBytesPerParam).toBe(16);
    expect(s.backend).toBe('onnxruntime-node');
    for (const f of ['summary.json', 'train.csv', 'eval.csv', 'training.svg', 'params.f32']) expect(existsSync(join(out, f))).toBe(true);
    expect(readFileSync(join(out, 'train.csv'), 'utf8').split('\n')[0]).toBe('step,loss,adv_loss,lr,ms,seconds');
    expect(readFileSync(join(out, 'training.svg'), 'utf8')).toMatch(/<svg xmlns=/);
    expect(readFileSync(join(out, 'params.f32')).length).toBe(4 * s.params);
  });

  it('a seeded run is reproducible (same losses and parameters); the adversarial run reports adv ≥ clean loss', async () => {
    const a = join(root, 'a');
    const b = join(root, 'b');
    expect(await runCli([...args(a), '--adversarial', '--epsilon', '0.2', '--adv-steps', '2', '--steps', '10'], capture().io)).toBe(0);
    expect(await runCli([...args(b), '--adversarial', '--epsilon', '0.2', '--adv-steps', '2', '--steps', '10'], capture().io)).toBe(0);
    const sa = JSON.parse(readFileSync(join(a, 'summary.json'), 'utf8')) as TrainSummary;
    const sb = JSON.parse(readFileSync(join(b, 'summary.json'), 'utf8')) as TrainSummary;
    expect(sb.curve.map((p) => p.loss)).toEqual(sa.curve.map((p) => p.loss));
    expect(readFileSync(join(b, 'params.f32'))).toEqual(readFileSync(join(a, 'params.f32')));
    for (const p of sa.curve) expect(p.advLoss).toBeGreaterThanOrEqual(p.loss);
  });

  it('trains MLM on the wasm backend', async () => {
    const c = capture();
    expect(await runCli([...args(join(root, 'mlm')), '--objective', 'mlm', '--backend', 'wasm', '--steps', '5', '--json'], c.io)).toBe(0);
    const s = JSON.parse(c.out()) as TrainSummary;
    expect(s.backend).toBe('onnxruntime-web-wasm');
    expect(s.curve[0].loss).toBeGreaterThan(3); // ≈ ln 64 at the start
    expect(s.final.majority).toBeNull();
  });

  it('errors name the flag, the model field or the damaged file (exit 2)', async () => {
    const cases: [string[], RegExp][] = [
      [['train'], /masha train: error: --local: only local training/],
      [[...args(join(root, 'x')), '--model', '{"hidden": 30, "heads": 4}'], /--model \(model\.heads\): hidden size 30 is not divisible by 4 heads/],
      [[...args(join(root, 'x')), '--model', '{"layers": 0}'], /--model \(model\.layers\)/],
      [[...args(join(root, 'x')), '--model', 'not json'], /--model: not valid JSON/],
      [[...args(join(root, 'x')), '--model', '{"vocabSize": 32}'], /vocabSize/],
      [[...args(join(root, 'x')), '--objective', 'regression'], /--objective <name>' argument 'regression' is invalid/],
      [[...args(join(root, 'x')), '--lr', '-1'], /--lr <rate>' argument '-1' is invalid/],
      [[...args(join(root, 'x')), '--data', join(root, 'nowhere')], /no dataset at/],
    ];
    for (const [argv, re] of cases) {
      const c = capture();
      expect(await runCli(argv, c.io)).toBe(2);
      expect(c.err()).toMatch(re);
    }
    const f = join(data, 'train-002.bin');
    const good = readFileSync(f);
    const bad = Buffer.from(good);
    bad[bad.length - 9] ^= 4;
    writeFileSync(f, bad);
    const c = capture();
    expect(await runCli(args(join(root, 'x')), c.io)).toBe(2);
    expect(c.err()).toMatch(/train-002\.bin: crc32c/);
    writeFileSync(f, good);
  });

  it('--device: auto probes the GPU providers and falls back to the CPU with each reason; gpu without one is a usage error; results unchanged', async () => {
    const probes = await probeGpuProviders();
    expect(probes.map((p) => p.provider)).toEqual(['cuda', 'webgpu']);
    const gpu = probes.find((p) => p.ok);
    const auto = join(root, 'auto');
    const cpu = join(root, 'cpu');
    const ca = capture();
    expect(await runCli([...args(auto), '--steps', '4', '--device', 'auto'], ca.io)).toBe(0);
    expect(await runCli([...args(cpu), '--steps', '4'], capture().io)).toBe(0);
    const sa = JSON.parse(readFileSync(join(auto, 'summary.json'), 'utf8')) as TrainSummary;
    const sc = JSON.parse(readFileSync(join(cpu, 'summary.json'), 'utf8')) as TrainSummary;
    expect(sc.device).toMatchObject({ requested: 'cpu', provider: 'cpu', probes: [] });
    expect(sa.device.requested).toBe('auto');
    expect(sa.device.probes.map((p) => p.provider)).toEqual(['cuda', 'webgpu']);
    if (gpu) {
      // A machine with a usable GPU: auto takes it, and its losses agree with the CPU's in float32.
      expect(sa.device.provider).toBe(gpu.provider);
      sa.curve.forEach((p, i) => expect(Math.abs(p.loss - sc.curve[i].loss)).toBeLessThanOrEqual(1e-3 * Math.abs(sc.curve[i].loss) + 1e-4));
      return;
    }
    // No usable GPU (CI): the CPU, with every provider's reason said, and the very same results.
    expect(sa.device.provider).toBe('cpu');
    for (const p of sa.device.probes) expect(p.reason.length).toBeGreaterThan(0);
    expect(ca.err()).toMatch(/computing on the CPU \(no usable GPU — cuda: .+; webgpu: .+\)/);
    expect(sa.curve.map((p) => p.loss)).toEqual(sc.curve.map((p) => p.loss));
    expect(readFileSync(join(auto, 'params.f32'))).toEqual(readFileSync(join(cpu, 'params.f32')));
    const cg = capture();
    expect(await runCli([...args(join(root, 'gpu')), '--device', 'gpu'], cg.io)).toBe(2);
    expect(cg.err()).toMatch(/--device: gpu: no usable GPU — cuda: .+; webgpu: .+\. Use --device cpu or auto\./);
    expect(existsSync(join(root, 'gpu'))).toBe(false);
  });

  it('--device gpu with the wasm backend is a usage error', async () => {
    const c = capture();
    expect(await runCli([...args(join(root, 'wg')), '--backend', 'wasm', '--device', 'gpu'], c.io)).toBe(2);
    expect(c.err()).toMatch(/--device: gpu: the wasm backend computes on the CPU; use --backend node/);
  });

  it('has help', async () => {
    const c = capture();
    expect(await runCli(['train', '--help'], c.io)).toBe(0);
    expect(c.out()).toMatch(/--objective <name>/);
    expect(c.out()).toMatch(/--backend <name>/);
    expect(c.out()).toMatch(/--device <name>/);
    expect(c.out()).toMatch(/summary\.json/);
  });
});
