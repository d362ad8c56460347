/**
 * An ALBERT graph on a runtime with its input arrays: batch buffers, the perturbation ρ and the
 * parameter views, bound once (rebound only when the caller passes another parameter array).
 */
import type { AlbertConfig, Objective } from './config.js';
import { buildAlbertGraph, IO, type GraphKind } from './graph.js';
import type { ParamLayout } from './params.js';
import { allocBatch, type BatchBuffers } from '../data/batches.js';
import { GraphSession, compileGraph } from '../runtime/session.js';
import type { OrtRuntime } from '../runtime/port.js';

export class AlbertSession {
  readonly config: AlbertConfig;
  readonly objective: Objective;
  readonly kind: GraphKind;
  readonly layout: ParamLayout;
  readonly batch: BatchBuffers;
  readonly delta: Float32Array;
  readonly session: GraphSession;
  /** Milliseconds spent building and serialising the graph. */
  readonly buildMs: number;
  private bound: Float32Array | null = null;

  private constructor(
    config: AlbertConfig,
    objective: Objective,
    kind: GraphKind,
    layout: ParamLayout,
    batch: BatchBuffers,
    session: GraphSession,
    buildMs: number,
  ) {
    this.config = config;
    this.objective = objective;
    this.kind = kind;
    this.layout = layout;
    this.batch = batch;
    this.session = session;
    this.buildMs = buildMs;
    this.delta = new Float32Array(batch.batch * config.seqLen * config.embed);
    const s = session;
    s.bind(IO.ids, batch.ids);
    s.bind(IO.mask, batch.mask);
    s.bind(IO.delta, this.delta);
    switch (objective) {
      case 'mlm':
        s.bind(IO.mlmPos, batch.mlmPos);
        s.bind(IO.mlmLabels, batch.mlmLabels);
        s.bind(IO.mlmWeights, batch.mlmWeights);
        break;
      case 'classify':
        s.bind(IO.labels, batch.labels);
        s.bind(IO.weights, batch.weights);
        break;
      default: {
        const never: never = objective;
        throw new RangeError(`unknown objective ${String(never)}`);
      }
    }
  }

  static async create(
    rt: OrtRuntime,
    config: AlbertConfig,
    objective: Objective,
    kind: GraphKind,
    batch: number,
    clock?: () => number,
  ): Promise<AlbertSession> {
    const t0 = clock?.() ?? 0;
    const ag = buildAlbertGraph({ config, objective, batch, kind });
    const compiled = compileGraph(ag.graph, `albert-${objective}-${kind}`);
    const buildMs = (clock?.() ?? 0) - t0;
    const session = await GraphSession.create(rt, compiled);
    return new AlbertSession(config, objective, kind, ag.layout, allocBatch(config, batch), session, buildMs);
  }

  /** Binds parameter views of `params` (a no-op when it is the array bound last time). */
  bindParams(params: Float32Array): void {
    if (params === this.bound) return;
    if (params.length !== this.layout.size) throw new RangeError(`params: expected ${this.layout.size} values, got ${params.length}`);
    for (const s of this.layout.specs) this.session.bind(IO.param(s.name), params.subarray(s.offset, s.offset + s.size));
    this.bound = params;
  }

  /** An evaluation begins (GPU runtimes refresh their device copies of the inputs). */
  beginEvaluation(): void {
    this.session.beginEvaluation();
  }

  run(): ReturnType<GraphSession['run']> {
    return this.session.run();
  }

  release(): Promise<void> {
    return this.session.release();
  }
}
