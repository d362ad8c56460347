/**
 * From a validated manifest to the objects a run needs: the Problem (its M operators are the
 * run's shards), the MethodInstance (with γ resolved: a number, or the method's theory stepsize),
 * and the engine's RunContext. Deterministic: every peer that builds the same manifest gets the
 * same problem, the same method and the same run id.
 */
import '../compress/permk.js'; // registers 'permk' with parseCompressor
import { parseCompressor } from '../compress/registry.js';
import type { Compressor } from '../compress/types.js';
import type { ShardConstants } from '../engine/guard.js';
import { norm } from '../vec/kernels.js';
import { createRunContext, type AdmissionPolicy, type RunContext, type RunContextInit } from '../engine/context.js';
import { checkBuildLimits, type BuildLimits } from './estimate.js';
import { ValidationError } from '../errors.js';
import '../methods/marina.js'; // registers 'marina' with createMethod
import { marinaAb, marinaStepsize } from '../methods/marina-stepsize.js';
import { createMethod } from '../methods/registry.js';
import { theoryStepsize } from '../methods/stepsize.js';
import type { MethodInstance } from '../methods/types.js';
import { generateBilinear } from '../problems/bilinear.js';
import { bilinearFromJson } from '../problems/bilinear-file.js';
import { QuadraticProblem } from '../problems/quadratic.js';
import { quadraticFromJson } from '../problems/quadratic-file.js';
import { generatePermkQuadratic } from '../problems/quadratic-generator.js';
import type { Problem } from '../problems/types.js';
import { parseProx } from '../prox/registry.js';
import { runIdOf, sha256Hex } from './canonical.js';
import { MANIFEST_DEFAULTS, quorumShards, type Manifest, type ProblemSpec } from './schema.js';

export interface BuildOptions {
  /** Reads the text of a problem file named by the manifest (the protocol package reads no files). */
  readonly readFile?: (path: string) => string;
  /** A problem the caller already built for this manifest (skips generation / loading). */
  readonly problem?: Problem;
  /** Wall clock (ms since the Unix epoch) for join tokens' expiry (runs with admission 'tokens'). */
  readonly wallClock?: () => number;
  /**
   * Refuse, before building, a problem whose estimated memory or build time exceeds these
   * (estimate.ts): a volunteer building an untrusted announcement. Default: no limit.
   */
  readonly limits?: BuildLimits;
  /** How the limits are set, for the error ("--max-problem-memory, --max-build-seconds"). */
  readonly limitsHint?: string;
  /** The run's frame size and the engine's resource limits (RunContextInit). */
  readonly context?: Pick<RunContextInit, 'maxMembers' | 'serving' | 'resume'>;
}

export interface BuiltRun {
  readonly manifest: Manifest;
  readonly runId: string;
  readonly problem: Problem;
  readonly method: MethodInstance;
  /** The resolved stepsize. */
  readonly gamma: number;
  readonly device: Compressor;
  readonly server: Compressor;
}

/** A problem from the JSON of a problem file, dispatched on its `kind`. */
export function problemFromJsonValue(value: unknown, field = 'problem'): Problem {
  const kind = typeof value === 'object' && value !== null ? (value as { kind?: unknown }).kind : undefined;
  try {
    if (kind === 'bilinear') return bilinearFromJson(value);
    if (kind === 'quadratic') return quadraticFromJson(value);
  } catch (e) {
    if (e instanceof ValidationError) throw new ValidationError(e.field ? `${field}.${e.field}` : field, e.message.slice(e.field ? e.field.length + 2 : 0));
    throw e;
  }
  throw new ValidationError(`${field}.kind`, `unknown problem kind ${JSON.stringify(kind)} (bilinear, quadratic)`);
}

/** Builds (generates or loads) the problem a manifest names. */
export function buildProblem(spec: ProblemSpec, options: BuildOptions = {}): Problem {
  switch (spec.kind) {
    case 'bilinear':
      return generateBilinear({
        d: spec.d,
        M: spec.M,
        lambda: spec.lambda,
        heterogeneity: spec.heterogeneity,
        seed: spec.seed,
        samples: spec.samples,
        spectrum: spec.spectrum,
        sampleSpread: spec.sampleSpread,
      });
    case 'quadratic':
      return generatePermkQuadratic({ d: spec.d, n: spec.n, s: spec.s, seed: spec.seed, lambda: spec.lambda }).problem;
    case 'inline':
      return problemFromJsonValue(spec.data, 'problem.data');
    case 'file': {
      if (!options.readFile) throw new ValidationError('problem.path', 'a problem file needs a file reader (BuildOptions.readFile)');
      const text = options.readFile(spec.path);
      if (spec.sha256 !== undefined && sha256Hex(text) !== spec.sha256) {
        throw new ValidationError('problem.sha256', `the contents of ${spec.path} do not match the manifest's SHA-256`);
      }
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch (e) {
        throw new ValidationError('problem.path', `${spec.path} is not valid JSON (${(e as Error).message})`);
      }
      return problemFromJsonValue(json, 'problem');
    }
    case 'model':
    case 'softmax':
      throw new ValidationError('problem.kind', `a ${spec.kind} run has no synthetic problem: build it with modelRunFromManifest`);
  }
}

/** Problem and method (γ resolved) of a manifest. */
export function buildRun(manifest: Manifest, options: BuildOptions = {}): BuiltRun {
  if (options.problem === undefined && options.limits !== undefined) checkBuildLimits(manifest, options.limits, options.readFile, options.limitsHint);
  const problem = options.problem ?? buildProblem(manifest.problem, options);
  const name = manifest.method.name;
  const device = parseCompressor(manifest.compressors.device);
  const server = parseCompressor(manifest.compressors.server);
  const proxSpec = manifest.method.prox;
  const prox = proxSpec === 'identity' ? undefined : parseProx(proxSpec);
  const tau = manifest.method.tau;
  const stochastic = manifest.method.stochastic;
  let gamma: number;
  if (manifest.method.gamma !== 'theory') gamma = manifest.method.gamma;
  else if (name === 'marina') {
    if (!(problem instanceof QuadraticProblem)) throw new ValidationError('method.gamma', "marina's theory stepsize needs a quadratic problem");
    const c = problem.constants();
    const p = Math.min(1, device.constants(problem.dim, problem.shards).beta);
    gamma = marinaStepsize(c, p, marinaAb(device, problem.dim, problem.shards));
  } else {
    gamma = theoryStepsize(name, { problem, device, server, ...(tau === undefined ? {} : { tau }), ...(prox ? { prox } : {}), stochastic });
  }
  const method = createMethod(name, {
    problem,
    seed: manifest.seed,
    gamma,
    device,
    server,
    ...(tau === undefined ? {} : { tau }),
    ...(prox ? { prox } : {}),
    ...(stochastic ? { stochastic } : {}),
  });
  return { manifest, runId: runIdOf(manifest), problem, method, gamma, device, server };
}

export interface ManifestRun extends BuiltRun {
  readonly ctx: RunContext;
}

/** The constants of each problem object, kept with it (like a problem's own cached L_m). */
const SHARD_CONSTANTS = new WeakMap<Problem, ShardConstants>();

/**
 * L_m and ‖F_m(0)‖ of a problem, each computed on first use and kept (the aggregator asks for the
 * shards it judges): the constants of the Lipschitz bounds (engine/guard.ts). Both are functions
 * of the problem alone, so the runs of one problem object (a simulator's sweep, a warm-up run
 * and the measured one) share them instead of evaluating F_m(0) once per shard per run.
 */
export function shardConstants(problem: Problem): ShardConstants {
  let c = SHARD_CONSTANTS.get(problem);
  if (c === undefined) {
    c = newShardConstants(problem);
    SHARD_CONSTANTS.set(problem, c);
  }
  return c;
}

function newShardConstants(problem: Problem): ShardConstants {
  const L = new Float64Array(problem.shards).fill(Number.NaN);
  const A = new Float64Array(problem.shards).fill(Number.NaN);
  let zero: Float64Array | null = null;
  let out: Float64Array | null = null;
  return {
    samples: problem.samples,
    lipschitz(m: number): number {
      if (Number.isNaN(L[m])) L[m] = problem.lipschitz(m);
      return L[m];
    },
    anchor(m: number): number {
      if (Number.isNaN(A[m])) {
        zero ??= new Float64Array(problem.dim);
        out ??= new Float64Array(problem.dim);
        problem.operator(m, zero, out);
        A[m] = norm(out);
      }
      return A[m];
    },
  };
}

/** Everything a driver needs to start peers of this run: build once, share `ctx` among peers. */
export function runFromManifest(manifest: Manifest, options: BuildOptions = {}): ManifestRun {
  const built = buildRun(manifest, options);
  const { problem, method } = built;
  const updates = manifest.updates ?? MANIFEST_DEFAULTS.updates;
  const ctx = createRunContext({
    runId: built.runId,
    method,
    z0: problem.initialPoint(),
    solution: problem.solution(),
    maxIterations: manifest.stop.iterations,
    target: manifest.stop.target ?? null,
    ...networkOf(manifest, problem.shards, options.wallClock),
    guard: {
      audit: updates.audit,
      bounds: updates.bounds,
      boundFactor: updates.boundFactor,
      refusalLimit: updates.refusalLimit,
      shards: updates.bounds === 'lipschitz' ? shardConstants(problem) : null,
    },
    ...options.context,
  });
  return { ...built, ctx };
}

type NetworkSettings = Pick<RunContextInit, 'quorum' | 'minPeers' | 'timing' | 'broadcast' | 'stallDeadlines' | 'assignment' | 'admission' | 'frameBytes'>;

/**
 * The run context's network settings from a manifest's `network` and `admission` (quorum, peers,
 * timing, broadcast path and trees, assignment, frame size): one place for synthetic and model runs.
 */
export function networkOf(manifest: Manifest, shards: number, wallClock?: () => number): NetworkSettings {
  const net = manifest.network;
  if (typeof net.quorum === 'object' && net.quorum.count > shards) {
    throw new ValidationError('network.quorum.count', `must not exceed the ${shards} shards of the problem, got ${net.quorum.count}`);
  }
  return {
    quorum: quorumShards(net.quorum, shards),
    minPeers: net.minPeers,
    timing: { heartbeatMs: net.heartbeatMs, leaseMs: net.leaseMs, roundDeadlineMs: net.roundDeadlineMs },
    broadcast: { ...net.broadcast, frameBytes: net.frameBytes },
    stallDeadlines: net.stallDeadlines,
    ...(net.assignment !== undefined ? { assignment: net.assignment } : {}),
    admission: admissionOf(manifest, wallClock),
    frameBytes: net.frameBytes,
  };
}

/** The run context's admission settings from a manifest (its policy, caps and the launcher's key). */
export function admissionOf(manifest: Manifest, wallClock?: () => number): AdmissionPolicy {
  return {
    policy: manifest.admission.policy,
    ...(manifest.admission.peers !== undefined ? { peers: manifest.admission.peers } : {}),
    launcherKey: manifest.launcher !== undefined ? hexBytes(manifest.launcher) : null,
    maxMembers: manifest.admission.maxMembers ?? null,
    maxNewPerEpoch: manifest.admission.maxNewPerEpoch ?? null,
    ...(wallClock !== undefined ? { wallClock } : {}),
  };
}

function hexBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}
