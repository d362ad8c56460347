/**
 * The run manifest (SPEC §5, issue 4 "Run manifest"): everything that defines a run — problem,
 * method, compressors, stepsize, stopping rule, network timing, seed. Every peer of a run holds the
 * same manifest; its id is the SHA-256 of the canonical JSON of the manifest *with every default
 * filled in* (see canonical.ts), so two manifests that mean the same run have the same id and a
 * change of code defaults cannot silently change what a published run id means.
 *
 * `parseManifest` validates an untrusted parsed-JSON value with zod and throws a ValidationError
 * whose `field` is the dotted path of the first offending value (`network.leaseMs`,
 * `problem.d`, `compressors.device`). Unknown keys are refused (a typo must not be ignored).
 */
import { z } from 'zod';
import { SpecError, ValidationError } from '../errors.js';
import { zodValidationError } from '../zod-errors.js';
import '../compress/permk.js'; // registers 'permk' with parseCompressor
import { parseCompressor } from '../compress/registry.js';
import { parseProx } from '../prox/registry.js';
import type { MethodName } from '../methods/types.js';
import { modelTaskSchema } from '../model/task.js';
import { optimizerSchema } from '../model/optim.js';
import { parseTensorRule } from '../compress/per-tensor.js';

export const MANIFEST_VERSION = 1;

export const METHOD_NAMES = ['masha1', 'masha2', 'eg', 'qeg', 'qgda', 'ef-gda', 'marina'] as const satisfies readonly MethodName[];

/** Hard limits: a manifest is untrusted input. */
export const MANIFEST_LIMITS = {
  maxDim: 1 << 24,
  maxShards: 100_000,
  maxIterations: 1e9,
  minFrameBytes: 512,
  maxFrameBytes: 1 << 20,
  maxTimingMs: 3_600_000,
  maxPathLength: 4096,
} as const;

/** Defaults (filled in before hashing: see the module doc). */
export const MANIFEST_DEFAULTS = {
  bilinear: { d: 100, M: 10, lambda: 0.01, heterogeneity: 0.5, seed: 0, samples: 1, spectrum: [0.1, 1] as [number, number], sampleSpread: 0.5 },
  quadratic: { d: 1000, n: 10, s: 0, seed: 0, lambda: 1e-6 },
  method: { gamma: 'theory' as const, stochastic: false, prox: 'identity' },
  /** Device compressor per method when none is named (the seed's Figure 1 pairings; PermK for MARINA). */
  compressorFor: {
    masha1: 'dither:p=2,s=8',
    masha2: 'topk:0.3',
    eg: 'identity',
    qeg: 'natural',
    qgda: 'dither:p=2,s=8',
    'ef-gda': 'topk:0.3',
    marina: 'permk',
  } satisfies Record<MethodName, string>,
  compressors: { server: 'identity' },
  stop: { iterations: 10_000 },
  network: { frameBytes: 65_536, roundDeadlineMs: 2_000, heartbeatMs: 500, leaseMs: 2_000, quorum: 0.5, minPeers: 1, stallDeadlines: 5 },
  admission: { policy: 'open' as const },
  updates: { audit: 0, bounds: 'lipschitz' as const, boundFactor: 2, refusalLimit: 3 },
  seed: 0,
} as const;

const int = (lo: number, hi: number) => z.number().int().min(lo).max(hi);
const positive = () => z.number().positive().refine(Number.isFinite, 'must be finite');
const seedSchema = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const timing = (d: number) => int(1, MANIFEST_LIMITS.maxTimingMs).default(d);

const bilinearSchema = z.strictObject({
  kind: z.literal('bilinear'),
  d: int(1, 4096).default(MANIFEST_DEFAULTS.bilinear.d),
  M: int(1, MANIFEST_LIMITS.maxShards).default(MANIFEST_DEFAULTS.bilinear.M),
  lambda: z.number().min(0).refine(Number.isFinite, 'must be finite').default(MANIFEST_DEFAULTS.bilinear.lambda),
  heterogeneity: z.number().min(0).max(1).default(MANIFEST_DEFAULTS.bilinear.heterogeneity),
  seed: seedSchema.default(MANIFEST_DEFAULTS.bilinear.seed),
  samples: int(1, 1 << 16).default(MANIFEST_DEFAULTS.bilinear.samples),
  spectrum: z
    .tuple([positive(), positive()])
    .refine(([lo, hi]) => hi >= lo, 'need lo ≤ hi')
    .default(MANIFEST_DEFAULTS.bilinear.spectrum),
  sampleSpread: z.number().min(0).refine(Number.isFinite, 'must be finite').default(MANIFEST_DEFAULTS.bilinear.sampleSpread),
});

const quadraticSchema = z.strictObject({
  kind: z.literal('quadratic'),
  d: int(2, MANIFEST_LIMITS.maxDim).default(MANIFEST_DEFAULTS.quadratic.d),
  n: int(1, MANIFEST_LIMITS.maxShards).default(MANIFEST_DEFAULTS.quadratic.n),
  s: z.number().min(0).refine(Number.isFinite, 'must be finite').default(MANIFEST_DEFAULTS.quadratic.s),
  seed: seedSchema.default(MANIFEST_DEFAULTS.quadratic.seed),
  lambda: z.number().refine(Number.isFinite, 'must be finite').default(MANIFEST_DEFAULTS.quadratic.lambda),
});

/** A problem file, resolved by the caller of `buildRun` (the protocol package reads no files). */
const fileSchema = z.strictObject({
  kind: z.literal('file'),
  path: z.string().min(1).max(MANIFEST_LIMITS.maxPathLength),
  /** SHA-256 (hex) of the file's bytes: when given, a file with other contents is refused. */
  sha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/, 'must be 64 lower-case hex digits')
    .optional(),
});

/** A problem given inline: the JSON of a problem file (`{ "kind": "bilinear", … }`). */
const inlineSchema = z.strictObject({
  kind: z.literal('inline'),
  data: z.record(z.string(), z.unknown()),
});

/** A model run (seed §5.2): the tiny ALBERT on the named dataset, evaluated by ONNX Runtime. */
const modelProblemSchema = z.strictObject({
  kind: z.literal('model'),
  task: modelTaskSchema,
  /** The dataset the task trains on (built by `npm run build` into node/dist/data/). */
  dataset: z.literal('spam-assassin').default('spam-assassin'),
});

/** A model run on the pure-TypeScript softmax model (model/softmax.ts): the simulator and tests. */
const softmaxProblemSchema = z.strictObject({
  kind: z.literal('softmax'),
  features: int(1, 4096).default(24),
  classes: int(2, 1000).default(4),
  perShard: int(1, 1_000_000).default(200),
  shards: int(1, 10_000).default(4),
  test: int(0, 1_000_000).default(400),
  batch: int(1, 4096).default(16),
  seed: seedSchema.default(0),
  separation: z.number().min(0).max(100).default(0.35),
  lambda: z.number().min(0).max(1e3).default(1e-3),
  adversarial: z
    .strictObject({ epsilon: z.number().positive().max(100), steps: int(1, 64), stepSize: z.number().positive().max(100) })
    .nullable()
    .default(null),
});

const problemSchema = z.discriminatedUnion('kind', [bilinearSchema, quadraticSchema, fileSchema, inlineSchema, modelProblemSchema, softmaxProblemSchema]);

const methodSchema = z.strictObject({
  name: z.enum(METHOD_NAMES),
  gamma: z.union([positive(), z.literal('theory')]).default(MANIFEST_DEFAULTS.method.gamma),
  tau: z.number().min(0).lt(1).optional(),
  stochastic: z.boolean().default(MANIFEST_DEFAULTS.method.stochastic),
  prox: z.string().min(1).max(200).default(MANIFEST_DEFAULTS.method.prox),
  /** Model runs: the optimizer every peer applies to the method's step (absent: plain MASHA with γ). */
  optimizer: optimizerSchema.optional(),
});

const compressorsSchema = z.strictObject({
  /** Default: the method's usual compressor (MANIFEST_DEFAULTS.compressorFor). */
  device: z.string().min(1).max(200).optional(),
  server: z.string().min(1).max(200).default(MANIFEST_DEFAULTS.compressors.server),
});

const stopSchema = z.strictObject({
  /** Maximum number of method iterations. */
  iterations: int(1, MANIFEST_LIMITS.maxIterations).default(MANIFEST_DEFAULTS.stop.iterations),
  /** Stop once ‖z − z*‖²/‖z⁰ − z*‖² ≤ target (problems whose solution is known). */
  target: z.number().positive().lt(1).optional(),
});

/** A fraction of the shards in (0, 1], or an absolute count of shards. */
const quorumSchema = z.union([z.number().positive().max(1), z.strictObject({ count: int(1, MANIFEST_LIMITS.maxShards) })]);

const networkSchema = z.strictObject({
  /** Frame size in bytes (frames carry every message, SPEC §5). */
  frameBytes: int(MANIFEST_LIMITS.minFrameBytes, MANIFEST_LIMITS.maxFrameBytes).default(MANIFEST_DEFAULTS.network.frameBytes),
  /** How long the aggregator collects uplinks before committing with what arrived. */
  roundDeadlineMs: timing(MANIFEST_DEFAULTS.network.roundDeadlineMs),
  /** Heartbeat period (devices → aggregator; aggregator → all when idle). */
  heartbeatMs: timing(MANIFEST_DEFAULTS.network.heartbeatMs),
  /** Silence past the lease means failure. */
  leaseMs: timing(MANIFEST_DEFAULTS.network.leaseMs),
  /** Shards that must answer for a compressed phase to commit (below it the round waits). */
  quorum: quorumSchema.default(MANIFEST_DEFAULTS.network.quorum),
  /** Live, synchronised peers needed before the aggregator opens rounds. */
  minPeers: int(1, 1_000_000).default(MANIFEST_DEFAULTS.network.minPeers),
  /**
   * How large broadcasts travel (optional; absent = relay trees with the defaults, and the run id
   * of manifests that do not name it is unchanged): `tree: false` sends them over gossip only;
   * `stripes` caps the relay trees per broadcast; `minBytes`: smaller one-frame broadcasts use gossip.
   */
  broadcast: z
    .strictObject({
      tree: z.boolean().optional(),
      stripes: int(1, 16).optional(),
      minBytes: int(0, 1 << 30).optional(),
    })
    .optional(),
  /** Round deadlines without a commit after which devices holding shards replace the aggregator. */
  stallDeadlines: int(2, 1000).default(MANIFEST_DEFAULTS.network.stallDeadlines),
  /**
   * Shard assignment (optional; absent = `even`, and the run id of manifests that do not name it is
   * unchanged): `even` gives every peer ⌊M/N⌋ or ⌈M/N⌉ shards; `throughput` weighs peers by the
   * rate the aggregator measures (a GPU peer holds more, at most ~4× the median peer's).
   */
  assignment: z.enum(['even', 'throughput']).optional(),
});

/**
 * Who may become a member: anyone (`open`), peers with a join token the launcher signed
 * (`tokens`), or the listed peer ids (`allowlist`); optional caps on members and on new members per
 * epoch (the aggregator applies them).
 */
const admissionSchema = z.strictObject({
  policy: z.enum(['open', 'tokens', 'allowlist']).default(MANIFEST_DEFAULTS.admission.policy),
  peers: z.array(z.string().min(1).max(128)).max(100_000).optional(),
  maxMembers: int(1, 1_000_000).optional(),
  maxNewPerEpoch: int(1, 1_000_000).optional(),
});

/** Updates that cannot poison the run: bounds, refusals and audits (engine/guard.ts). */
const updatesSchema = z.strictObject({
  /** Probability that a shard's answer is audited by a second holder in a round. */
  audit: z.number().min(0).max(1).default(MANIFEST_DEFAULTS.updates.audit),
  /**
   * How answers are bounded (engine/guard.ts): 'lipschitz' rejects answers beyond the problem's L_m
   * bound; 'running' clips answers beyond 8× the median of the shard's recent ones; 'off' only
   * refuses undecodable ones. A model run has no L_m: there 'lipschitz' (the default) means
   * 'running' (manifest/model-run.ts).
   */
  bounds: z.enum(['lipschitz', 'running', 'off']).default(MANIFEST_DEFAULTS.updates.bounds),
  /** Margin c ≥ 1 of the bounds. */
  boundFactor: z.number().min(1).max(1e6).default(MANIFEST_DEFAULTS.updates.boundFactor),
  /** Refused answers before the sender is banned for the run. */
  refusalLimit: int(1, 1_000_000).default(MANIFEST_DEFAULTS.updates.refusalLimit),
});

const manifestObject = z.strictObject({
  version: z.literal(MANIFEST_VERSION).default(MANIFEST_VERSION),
  problem: problemSchema,
  method: methodSchema,
  compressors: compressorsSchema.default({ server: MANIFEST_DEFAULTS.compressors.server }),
  stop: stopSchema.default({ ...MANIFEST_DEFAULTS.stop }),
  network: networkSchema.default({ ...MANIFEST_DEFAULTS.network }),
  /** Run seed: keys every shared draw (RandK indices, b_k, samples). */
  seed: seedSchema.default(MANIFEST_DEFAULTS.seed),
  admission: admissionSchema.default({ ...MANIFEST_DEFAULTS.admission }),
  /**
   * The launcher's Ed25519 public key (64 hex digits). Part of the manifest, so the run id binds
   * it: volunteers accept run announcements (and the end of the run) only when this key signed
   * them. `masha launch` fills it in with its key.
   */
  launcher: z
    .string()
    .regex(/^[0-9a-f]{64}$/, 'must be 64 lower-case hex digits (an Ed25519 public key)')
    .optional(),
  /**
   * Absent: MANIFEST_DEFAULTS.updates. (Not filled in, unlike the other sections, so that the ids of
   * runs published before it existed stay what they were; once given, every field is filled.)
   */
  updates: updatesSchema.optional(),
});

const manifestSchema = manifestObject.transform((m) => {
  const model = m.problem.kind === 'model' || m.problem.kind === 'softmax';
  return {
    ...m,
    // Model runs: τ defaults to MODEL_DEFAULT_TAU (a refresh every 1/(1 − τ) iterations on average).
    method: model && m.method.tau === undefined ? { ...m.method, tau: MODEL_DEFAULT_TAU } : m.method,
    compressors: {
      device: m.compressors.device ?? (model ? 'identity' : MANIFEST_DEFAULTS.compressorFor[m.method.name]),
      server: m.compressors.server,
    },
  };
});

/**
 * τ of model runs when the manifest gives none: 1 − 1/8, so F̃(w) is refreshed (a full float32
 * round) every 8 iterations on average. Stochastic MASHA's own default, 1 − min(1/r, β), is ≈ 1
 * for a dataset of r ≫ 1 minibatches: the anchor would almost never move.
 */
export const MODEL_DEFAULT_TAU = 0.875;

/** A validated manifest with every default filled in. */
export type Manifest = z.output<typeof manifestSchema>;
/** What a user may write: every field with a default may be left out. */
export type ManifestInput = z.input<typeof manifestSchema>;
export type ProblemSpec = Manifest['problem'];
export type QuorumSpec = Manifest['network']['quorum'];

export { formatPath } from '../zod-errors.js';

/**
 * Validates an untrusted value (parsed JSON) as a manifest, fills in defaults, checks the
 * cross-field rules and that the compressor and prox specs parse. Throws ValidationError naming
 * the field; never anything else for any input.
 */
export function parseManifest(value: unknown): Manifest {
  const r = manifestSchema.safeParse(value, { reportInput: true });
  if (!r.success) throw zodValidationError(r.error, { schema: manifestSchema, value });
  const m = r.data;
  const net = m.network;
  if (net.leaseMs < 2 * net.heartbeatMs) {
    throw new ValidationError('network.leaseMs', `must be at least twice heartbeatMs (${net.heartbeatMs}), got ${net.leaseMs}`);
  }
  const shards = manifestShards(m);
  if (shards !== null && typeof net.quorum === 'object' && net.quorum.count > shards) {
    throw new ValidationError('network.quorum.count', `must not exceed the ${shards} shards of the problem, got ${net.quorum.count}`);
  }
  if (m.method.name === 'marina' && m.problem.kind === 'bilinear') {
    throw new ValidationError('method.name', 'marina minimises a function: use a quadratic problem');
  }
  if (m.method.stochastic && m.problem.kind === 'bilinear' && m.problem.samples < 2) {
    throw new ValidationError('method.stochastic', 'stochastic mode needs problem.samples ≥ 2');
  }
  if (m.admission.policy === 'tokens' && m.launcher === undefined) {
    throw new ValidationError('admission.policy', "'tokens' needs the launcher's key ('launcher'), which signs the tokens");
  }
  if (m.admission.policy === 'allowlist' && (m.admission.peers === undefined || m.admission.peers.length === 0)) {
    throw new ValidationError('admission.peers', "'allowlist' needs the peer ids it allows");
  }
  if (isModelProblem(m.problem)) {
    checkModelRun(m);
    return m;
  }
  if (m.method.optimizer !== undefined)
    throw new ValidationError('method.optimizer', 'an optimizer applies to model runs only (problem.kind model or softmax)');
  checkSpec('compressors.device', () => parseCompressor(m.compressors.device));
  checkSpec('compressors.server', () => parseCompressor(m.compressors.server));
  checkSpec('method.prox', () => parseProx(m.method.prox));
  return m;
}

/** True for model runs (the tiny ALBERT, or the softmax model). */
export function isModelProblem(p: ProblemSpec): p is Extract<ProblemSpec, { kind: 'model' | 'softmax' }> {
  return p.kind === 'model' || p.kind === 'softmax';
}

/** The cross-field rules of a model run. */
function checkModelRun(m: Manifest): void {
  if (m.method.name !== 'masha1' && m.method.name !== 'masha2')
    throw new ValidationError('method.name', `model runs use masha1 or masha2, got '${m.method.name}'`);
  if (m.method.optimizer === undefined && m.method.gamma === 'theory')
    throw new ValidationError('method.gamma', 'a model run without an optimizer needs a numeric stepsize γ');
  if (m.method.prox !== 'identity') throw new ValidationError('method.prox', 'model runs are unconstrained (prox identity)');
  checkSpec('compressors.device', () => parseTensorRule(m.compressors.device));
  checkSpec('compressors.server', () => parseTensorRule(m.compressors.server));
}

function checkSpec(field: string, parse: () => unknown): void {
  try {
    parse();
  } catch (e) {
    if (e instanceof SpecError || e instanceof ValidationError || e instanceof RangeError) throw new ValidationError(field, e.message);
    throw e;
  }
}

/** Number of shards M of a generated problem; null for file / inline problems (known once built). */
export function manifestShards(m: Manifest): number | null {
  switch (m.problem.kind) {
    case 'bilinear':
      return m.problem.M;
    case 'quadratic':
      return m.problem.n;
    case 'model':
      return m.problem.task.shards;
    case 'softmax':
      return m.problem.shards;
    default:
      return null;
  }
}

/** Shards that must answer for a compressed phase to commit, for M shards: ⌈q·M⌉ or the count. */
export function quorumShards(quorum: QuorumSpec, shards: number): number {
  const q = typeof quorum === 'number' ? Math.ceil(quorum * shards - 1e-9) : quorum.count;
  return Math.max(1, Math.min(shards, q));
}
