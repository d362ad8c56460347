/**
 * `masha-sim repro adversarial`: the seed's §5.2 comparison (Figure 2) on Masha — adversarial
 * training of the tiny ALBERT (spam/ham classification, FreeLB K = 2) by MASHA2 + LAMB with four
 * communication setups: baseline (float32), full 8-bit, mixed 8-bit (tensors ≥ 2^16 elements) and
 * PowerSGD rank 8 with error feedback (matrices ≥ 2^16 elements), each on the uplinks and on the
 * broadcast.
 *
 * Two measurements per setup, on the same model, data, seed and number of iterations:
 *  - the training objective: the reference runner (model/model-runner.ts: the swarm's arithmetic
 *    bit for bit, without failures) with the operator on onnxruntime-node; the objective of an
 *    iteration is the mean over shards of the adversarial minibatch loss at z^{k+½} (FreeLB's last
 *    iterate ρ^{K−1}); then the test loss, accuracy and robust accuracy (an ε-ball PGD attack of
 *    K + 2 steps) of the final iterate. The classifier head is trained jointly with the encoder.
 *  - the time per round: the discrete-event simulator running the real engine and frames of the
 *    same run on 4 peers over a stated link model, each operator evaluation charged the compute
 *    time measured on this machine (the values come from a cheap surrogate of the same shape: the
 *    payload sizes of these compressors do not depend on the values), 5 repetitions (network seeds).
 *    A "round" is a compressed 'diff' exchange, the seed's communication round; seconds per
 *    iteration also count the full float32 F̃(w) refreshes (probability 1 − τ per iteration).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  modelRunFromManifest,
  parseManifest,
  PeerHost,
  type EngineAction,
  type EvaluationRequest,
  type Manifest,
  type ModelRun,
  type PeerId,
} from '@masha/protocol';
import { ModelEvaluator, ModelOperator, ModelReferenceDriver, type OperatorStats, type SampledOperator } from '@masha/protocol/model';
import type { Evaluator } from '@masha/protocol/ports';
import { SimKeyring } from '@masha/protocol/trust';
import { renderLineChart } from '@masha/protocol/plot';
import { createRuntime, loadDataset } from '@masha/node';
import { Swarm } from '../des/swarm.js';
import type { LinkProfile } from '../des/link-model.js';
import type { SimCpu } from '../des/node.js';
import type { Adversary } from '../run/simulate.js';
import { toJson, writeTextFile as writeAtomic } from '../io/json.js';

export interface Setup {
  readonly name: 'baseline' | '8bit' | 'mixed8bit' | 'powersgd';
  readonly label: string;
  readonly spec: string;
}

export const SETUPS: readonly Setup[] = [
  { name: 'baseline', label: 'baseline (float32)', spec: 'identity' },
  { name: '8bit', label: 'full 8-bit', spec: 'int8' },
  { name: 'mixed8bit', label: 'mixed 8-bit', spec: 'int8:min=65536' },
  { name: 'powersgd', label: 'PowerSGD r = 8 + EF', spec: 'powersgd:r=8,min=65536' },
];

export interface AdversarialGrid {
  readonly iterations: number;
  readonly batch: number;
  /** Test examples for the final accuracy (null: the whole split). */
  readonly testExamples: number | null;
  /** Iterations simulated per repetition, and repetitions. */
  readonly simIterations: number;
  readonly repetitions: number;
  readonly peers: number;
  readonly link: LinkProfile;
  readonly seed: number;
}

/** The seed's regime: 100 Mbit/s symmetric links, 5 ms one-way access latency, ±1 ms jitter. */
export const LINK_100M: Omit<LinkProfile, 'computeMs'> = { uplinkMbps: 100, downlinkMbps: 100, latencyMs: 5, jitterMs: 1, loss: 0 };

export const FULL_GRID: AdversarialGrid = {
  iterations: 300,
  batch: 16,
  testExamples: null,
  simIterations: 30,
  repetitions: 5,
  peers: 4,
  link: { ...LINK_100M, computeMs: 0 },
  seed: 0,
};
export const QUICK_GRID: AdversarialGrid = {
  iterations: 12,
  batch: 8,
  testExamples: 128,
  simIterations: 8,
  repetitions: 3,
  peers: 4,
  link: { ...LINK_100M, computeMs: 0 },
  seed: 0,
};

export function setupManifest(setup: Setup, grid: AdversarialGrid): Manifest {
  return parseManifest({
    problem: {
      kind: 'model',
      task: { objective: 'classify', shards: grid.peers, batch: grid.batch, seed: grid.seed, adversarial: { epsilon: 0.1, steps: 2, stepSize: 0.05 } },
    },
    method: { name: 'masha2', optimizer: { name: 'lamb', lr: 5e-3, warmup: Math.min(10, Math.floor(grid.iterations / 10)) } },
    compressors: { device: setup.spec, server: setup.spec },
    stop: { iterations: Math.max(1, grid.iterations) },
    network: { heartbeatMs: 1_000, leaseMs: 30_000, roundDeadlineMs: 30_000, quorum: 1, minPeers: grid.peers },
    seed: grid.seed,
  });
}

export interface SetupResult {
  readonly name: Setup['name'];
  readonly spec: string;
  /** Payload bits of one uplink and of one broadcast of a 'diff' round, and of a float32 round. */
  readonly bitsPerUplink: number;
  readonly bitsPerBroadcast: number;
  /** Payload bytes of a 'diff' round (M uplinks + one broadcast, exact) and mean per iteration (refreshes included, from the reference run). */
  readonly bytesPerRound: number;
  readonly bytesPerIteration: number;
  readonly curve: { readonly iteration: number[]; readonly objective: number[]; readonly cleanLoss: number[]; readonly seconds: number[] };
  /** Mean training objective over the last tenth of the iterations. */
  readonly finalLoss: number;
  readonly testLoss: number;
  readonly testAccuracy: number;
  readonly robustAccuracy: number | null;
  /** Simulator: mean seconds per 'diff' round (std over repetitions) and per iteration. */
  readonly secondsPerRound: { readonly mean: number; readonly std: number };
  readonly secondsPerIteration: { readonly mean: number; readonly std: number };
}

export interface AdversarialProgress {
  readonly stage: string;
  readonly done: number;
  readonly total: number;
}

/** Records the minibatch losses the operator reports (the first, non-subtracting call of a diff step). */
class Recording implements SampledOperator {
  readonly dim: number;
  readonly shards: number;
  losses: { clean: number; adv: number }[] = [];
  constructor(readonly op: ModelOperator) {
    this.dim = op.dim;
    this.shards = op.shards;
  }
  async evaluate(shard: number, sample: number, point: Float32Array, out: Float32Array, subtract: boolean): Promise<OperatorStats> {
    const s = await this.op.evaluate(shard, sample, point, out, subtract);
    if (!subtract && sample % 2 === 1) this.losses.push({ clean: s.loss, adv: s.advLoss });
    return s;
  }
}

/** Median ms of one operator evaluation (FreeLB K steps, the grid's batch) on onnxruntime-node. */
async function measureCompute(op: ModelOperator, w: Float32Array, reps = 5): Promise<number> {
  const out = new Float32Array(op.dim);
  await op.evaluate(0, 1, w, out, false); // warm-up
  const ms: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await op.evaluate(i % op.shards, 2 * i + 3, w, out, false);
    ms.push(performance.now() - t0);
  }
  ms.sort((a, b) => a - b);
  return ms[Math.floor(ms.length / 2)];
}

/** A cheap surrogate of the model's operator, same shape: values only feed the (size-invariant) compressors. */
class SurrogateEvaluator implements Evaluator {
  constructor(private readonly cpu: SimCpu) {}
  evaluate(request: EvaluationRequest, complete: (error: Error | null) => void): void {
    let n = 0;
    for (const item of request.items) {
      for (const e of item.evaluations) {
        n++;
        const v = e.value;
        const p = e.point;
        const a = 1e-3 * (1 + ((item.shard + (e.sample ?? 0)) % 7));
        const b = 1e-7 * (1 + (e.sample ?? 0));
        if (e.subtract) for (let i = 0; i < v.length; i++) v[i] -= a * p[i] + b * ((i & 1023) - 511.5);
        else for (let i = 0; i < v.length; i++) v[i] = a * p[i] + b * ((i & 1023) - 511.5);
      }
    }
    this.cpu.charge(n);
    complete(null);
  }
}

/** 'diff' rounds left out of the simulated time per round (start-up). */
export const WARMUP_ROUNDS = 3;

export interface SimulatedModelRun {
  /** Seconds between successive commits that closed a 'diff' round. */
  readonly diff: number[];
  /** Simulated seconds per iteration (from the init commit to the last). */
  readonly perIteration: number;
  readonly commits: number;
  /** The engines of the peers at the end. */
  readonly peers: readonly PeerHost[];
}

/**
 * A model run in the simulator: `peers` peers from the start, no churn, the given link model; each
 * peer's evaluator from `evaluator` (default: the surrogate, charging the link's compute time);
 * `adversary` wraps the ports of lying peers (sim/src/run/adversary.ts), as `simulate` does.
 */
export function simulateTiming(
  run: ModelRun,
  link: LinkProfile,
  peers: number,
  seed: number,
  evaluator: (cpu: SimCpu) => Evaluator = (cpu) => new SurrogateEvaluator(cpu),
  adversary?: (id: PeerId) => Adversary | null,
): SimulatedModelRun {
  const ctx = run.ctx;
  const hosts: PeerHost[] = [];
  // The simulator's identities: keyed MACs (the real signatures are Ed25519; here they cost nothing).
  const keyring = new SimKeyring(`${run.runId}:${seed}`);
  const times: { t: number; phase: string; iteration: number }[] = [];
  let watcher: string | null = null;
  const swarm = new Swarm({
    seed,
    link,
    createNode: (id, ports) => {
      watcher ??= id;
      const lie = adversary?.(id) ?? null;
      const host = new PeerHost(
        {
          id,
          ctx,
          frameBytes: run.manifest.network.frameBytes,
          immutableFrames: true,
          expireEveryMs: 0,
          onAction: (a: EngineAction) => {
            if (a.type === 'commit' && id === watcher) times.push({ t: swarm.now / 1000, phase: a.phase, iteration: host.engine.replica.iteration });
            if (a.type === 'done') ports.done();
          },
        },
        {
          scheduler: ports.scheduler,
          link: lie?.link ? lie.link(ports.link) : ports.link,
          evaluator: lie?.evaluator ? lie.evaluator(evaluator(ports.cpu)) : evaluator(ports.cpu),
          identity: keyring.signerOf(id),
        },
      );
      hosts.push(host);
      return host;
    },
  });
  swarm.addInitialPeers(Array.from({ length: peers }, (_, i) => `p${i + 1}`));
  swarm.run({ untilMs: 3_600_000 });
  const diff: number[] = [];
  for (let i = 1; i < times.length; i++) if (times[i].phase === 'diff') diff.push(times[i].t - times[i - 1].t);
  // The first rounds also carry the start-up (shard assignment settling, answers re-planned): steady state from the 4th.
  if (diff.length > WARMUP_ROUNDS + 1) diff.splice(0, WARMUP_ROUNDS);
  const init = times.find((c) => c.phase === 'init');
  const last = times[times.length - 1];
  const perIteration = init && last && last.iteration > 0 ? (last.t - init.t) / last.iteration : Number.NaN;
  return { diff, perIteration, commits: times.length, peers: hosts };
}

/** Mean of the last tenth (at least one) of a curve: a minibatch objective is noisy. */
export function tailMean(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const n = Math.max(1, Math.ceil(xs.length / 10));
  return xs.slice(-n).reduce((a, b) => a + b, 0) / n;
}

function meanStd(xs: readonly number[]): { mean: number; std: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const std = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return { mean, std };
}

export interface AdversarialResult {
  readonly grid: AdversarialGrid;
  readonly computeMs: number;
  readonly setups: SetupResult[];
  readonly dim: number;
}

export async function reproAdversarial(grid: AdversarialGrid, onProgress?: (p: AdversarialProgress) => void): Promise<AdversarialResult> {
  const data = await loadDataset();
  const rt = await createRuntime('node', { threads: 1 });
  const total = SETUPS.length * (grid.iterations + 1 + grid.repetitions);
  let done = 0;
  const tick = (stage: string): void => onProgress?.({ stage, done: ++done, total });
  const results: SetupResult[] = [];
  let computeMs = 0;
  let dim = 0;
  for (const setup of SETUPS) {
    const manifest = setupManifest(setup, grid);
    const run = modelRunFromManifest(manifest);
    if (run.task.kind !== 'model') throw new Error('unreachable');
    dim = run.ctx.dim;
    const op = await ModelOperator.create(rt, run.task.task, data.train, () => performance.now());
    if (computeMs === 0) computeMs = await measureCompute(op, run.w0);
    const rec = new Recording(op);
    const driver = new ModelReferenceDriver(run.method, rec, run.w0);
    await driver.runIteration(); // init: F̃(w⁰)
    const curve = { iteration: [] as number[], objective: [] as number[], cleanLoss: [] as number[], seconds: [] as number[] };
    let diffBytes = 0;
    let diffRounds = 0;
    const t0 = performance.now();
    const bitsAtStart = driver.uplinkBits + driver.downlinkBits;
    for (let k = 0; k < grid.iterations; k++) {
      rec.losses = [];
      const records = await driver.runIteration();
      for (const r of records) {
        if (r.phase === 'diff') {
          diffBytes += (r.uplinkBits + r.downlinkBits) / 8;
          diffRounds++;
        }
      }
      curve.iteration.push(k + 1);
      curve.objective.push(rec.losses.reduce((a, b) => a + b.adv, 0) / rec.losses.length);
      curve.cleanLoss.push(rec.losses.reduce((a, b) => a + b.clean, 0) / rec.losses.length);
      curve.seconds.push((performance.now() - t0) / 1000);
      tick(`${setup.name}: iteration ${k + 1}/${grid.iterations}, objective ${curve.objective[curve.objective.length - 1].toFixed(4)}`);
    }
    const trained = grid.iterations > 0;
    const bytesPerIteration = trained ? (driver.uplinkBits + driver.downlinkBits - bitsAtStart) / 8 / grid.iterations : Number.NaN;
    const adv = run.task.task.adversarial;
    let test: { loss: number; accuracy: number; robustAccuracy: number | null } = { loss: Number.NaN, accuracy: Number.NaN, robustAccuracy: null };
    if (trained) {
      const evaluator = await ModelEvaluator.create(rt, run.task.task, data.test, {
        attack: adv ? { epsilon: adv.epsilon, steps: adv.steps + 2, stepSize: adv.stepSize } : null,
        ...(grid.testExamples !== null ? { maxExamples: grid.testExamples } : {}),
      });
      test = await evaluator.evaluate(driver.replica.vectors.z);
      await evaluator.release();
    }
    await op.release();
    tick(`${setup.name}: test accuracy ${(100 * test.accuracy).toFixed(1)} %`);

    const link: LinkProfile = { ...grid.link, computeMs };
    const simRun = modelRunFromManifest(setupManifest(setup, { ...grid, iterations: grid.simIterations }));
    const perRound: number[] = [];
    const perIt: number[] = [];
    for (let r = 0; r < grid.repetitions; r++) {
      const t = simulateTiming(simRun, link, grid.peers, grid.seed + 1 + r);
      perRound.push(t.diff.reduce((a, b) => a + b, 0) / t.diff.length);
      perIt.push(t.perIteration);
      tick(`${setup.name}: simulated repetition ${r + 1}/${grid.repetitions}`);
    }
    const dInfo = run.method.phase('diff');
    const bitsPerUplink = bitsOf(dInfo.uplink, run.ctx.dim);
    const bitsPerBroadcast = bitsOf(dInfo.downlink, run.ctx.dim);
    // Exact: M uplinks, one broadcast and its refresh bit (the reference run's mean agrees).
    const bytesPerRound = (grid.peers * bitsPerUplink + bitsPerBroadcast + dInfo.flagBits) / 8;
    if (diffRounds > 0 && Math.abs(diffBytes / diffRounds - bytesPerRound) > 1e-6 * bytesPerRound)
      throw new Error(`${setup.name}: measured ${diffBytes / diffRounds} bytes per round, expected ${bytesPerRound}`);
    results.push({
      name: setup.name,
      spec: setup.spec,
      bitsPerUplink,
      bitsPerBroadcast,
      bytesPerRound,
      bytesPerIteration,
      curve,
      finalLoss: tailMean(curve.objective),
      testLoss: test.loss,
      testAccuracy: test.accuracy,
      robustAccuracy: test.robustAccuracy,
      secondsPerRound: meanStd(perRound),
      secondsPerIteration: meanStd(perIt),
    });
  }
  return { grid, computeMs, setups: results, dim };
}

function bitsOf(c: { payloadBits?: (d: number) => number; spec: string }, d: number): number {
  return typeof c.payloadBits === 'function' ? c.payloadBits(d) : 32 * d;
}

export function adversarialSummary(result: AdversarialResult): object {
  const { grid } = result;
  return {
    setups: result.setups.map((s) => ({
      name: s.name,
      spec: s.spec,
      secondsPerRound: s.secondsPerRound,
      secondsPerIteration: s.secondsPerIteration,
      bytesPerRound: s.bytesPerRound,
      bytesPerIteration: s.bytesPerIteration,
      bitsPerUplink: s.bitsPerUplink,
      bitsPerBroadcast: s.bitsPerBroadcast,
      finalLoss: s.finalLoss,
      testLoss: s.testLoss,
      testAccuracy: s.testAccuracy,
      robustAccuracy: s.robustAccuracy,
    })),
    linkModel: {
      kind: 'simulated',
      peers: grid.peers,
      uplinkMbps: grid.link.uplinkMbps,
      downlinkMbps: grid.link.downlinkMbps,
      latencyMs: grid.link.latencyMs,
      jitterMs: grid.link.jitterMs,
      computeMsPerEvaluation: result.computeMs,
      repetitions: grid.repetitions,
      simulatedIterations: grid.simIterations,
    },
    training: {
      model: 'tiny ALBERT (1,459,074 parameters), spam/ham classification, classifier head trained jointly',
      method: 'masha2 + LAMB (lr 5e-3), τ = 0.875, stochastic minibatches from the shared seed',
      adversarial: { epsilon: 0.1, steps: 2, stepSize: 0.05 },
      iterations: grid.iterations,
      batch: grid.batch,
      shards: grid.peers,
      testExamples: grid.testExamples,
      objective: 'mean over shards of the adversarial minibatch loss at z^{k+½}; finalLoss: its mean over the last tenth of the iterations',
      timing: `simulated seconds between commits of 'diff' rounds, the first ${WARMUP_ROUNDS} (start-up) left out`,
    },
  };
}

export async function writeAdversarialRepro(dir: string, result: AdversarialResult): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const files: string[] = [];
  const put = async (name: string, text: string): Promise<void> => {
    const p = join(dir, name);
    await writeAtomic(p, text);
    files.push(p);
  };
  await put('summary.json', toJson(adversarialSummary(result)));
  const lines = ['setup,iteration,seconds,objective,clean_loss'];
  for (const s of result.setups)
    for (let i = 0; i < s.curve.iteration.length; i++)
      lines.push(`${s.name},${s.curve.iteration[i]},${s.curve.seconds[i].toFixed(3)},${s.curve.objective[i]},${s.curve.cleanLoss[i]}`);
  await put('curves.csv', `${lines.join('\n')}\n`);
  const table = ['setup,spec,seconds_per_round,std,seconds_per_iteration,bytes_per_round,final_loss,test_accuracy,robust_accuracy'];
  for (const s of result.setups) {
    table.push(
      `${s.name},${s.spec},${s.secondsPerRound.mean},${s.secondsPerRound.std},${s.secondsPerIteration.mean},${s.bytesPerRound},${s.finalLoss},${s.testAccuracy},${s.robustAccuracy ?? ''}`,
    );
  }
  await put('setups.csv', `${table.join('\n')}\n`);
  const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd'];
  // Against simulated time: iteration k at k × the setup's simulated seconds per iteration.
  await put(
    'objective.svg',
    renderLineChart({
      title: 'Adversarial training of the tiny ALBERT, MASHA2 + LAMB, 4 peers (seed Figure 2, upper)',
      panels: [
        {
          title: 'training objective by iteration',
          xLabel: 'iteration',
          yLabel: 'adversarial minibatch loss',
          series: result.setups.map((s, i) => ({ name: s.name, x: s.curve.iteration, y: s.curve.objective, color: COLORS[i] })),
        },
        {
          title: `by simulated time (${result.grid.link.uplinkMbps} Mbit/s links)`,
          xLabel: 'simulated seconds',
          yLabel: 'adversarial minibatch loss',
          series: result.setups.map((s, i) => ({
            name: s.name,
            x: s.curve.iteration.map((k) => k * s.secondsPerIteration.mean),
            y: s.curve.objective,
            color: COLORS[i],
          })),
        },
      ],
    }),
  );
  await put(
    'time-per-round.svg',
    renderLineChart({
      title: 'Average simulated time per compressed round (seed Figure 2, lower)',
      panels: [
        {
          title: `${result.grid.peers} peers, ${result.grid.link.uplinkMbps} Mbit/s, compute ${result.computeMs.toFixed(0)} ms per evaluation`,
          xLabel: 'setup (0 baseline, 1 full 8-bit, 2 mixed 8-bit, 3 PowerSGD)',
          yLabel: 'seconds per round',
          series: [{ name: 'mean', x: result.setups.map((_, i) => i), y: result.setups.map((s) => s.secondsPerRound.mean) }],
        },
      ],
    }),
  );
  return files;
}
