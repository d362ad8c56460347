/**
 * @masha/protocol — pure TypeScript, no Node or DOM APIs.
 *
 * The root exports the stable surface: what a runtime, a CLI or a test needs to define a run,
 * build it, drive it and read its results. Each area has its own subpath with everything in it
 * (`@masha/protocol/engine`, `/host`, `/ports`, `/frames`, `/compress`, `/methods`, `/problems`,
 * `/prox`, `/rng`, `/vec`, `/linalg`, `/manifest`, `/runner`, `/swarm`, `/plot`, `/tree`).
 */
export { MashaError, ValidationError, PayloadError, SpecError, UsageError } from './errors.js';
export { closest, describeIssue, zodValidationError, type IssueContext } from './zod-errors.js';

// Runs: manifests, their ids, and building their problem, method and run context.
export * from './manifest/index.js';

// Compressors and methods, by name.
export type { Compressor, CompressorConstants, CompressContext, Payload, SharedContext } from './compress/types.js';
export { parseCompressor, compressorNames, type CompressorName } from './compress/registry.js';
export type { MethodName, MethodInstance, PhaseName, ReplicaState, ShardState, ServerState, Downlink, PhaseInfo } from './methods/types.js';
export type { MethodConfig } from './methods/common.js';
export { createMethod, methodNames, DEFAULT_COMPRESSOR } from './methods/registry.js';
export { theoryStepsize } from './methods/stepsize.js';

// Problems.
export type { Problem } from './problems/types.js';
export { generateBilinear, BilinearProblem } from './problems/bilinear.js';
export { bilinearFromJson, bilinearToJson } from './problems/bilinear-file.js';
export { QuadraticProblem } from './problems/quadratic.js';
export { generatePermkQuadratic } from './problems/quadratic-generator.js';
export { quadraticFromJson, quadraticToJson } from './problems/quadratic-file.js';

// The single-process reference runner.
export * from './runner/index.js';

// The engine, its host and the frames between peers.
export type { PeerId, EngineRole, EngineMessage, EngineEvent, EngineAction, EngineCounter, EvaluationRequest, StopReason } from './engine/types.js';
export {
  createRunContext,
  maxBodyBytes,
  DEFAULT_BROADCAST,
  type RunContext,
  type RunContextInit,
  type EngineTiming,
  type BroadcastSettings,
} from './engine/context.js';
export { MashaPeer, type PeerSnapshot } from './engine/peer.js';
export { MSG, KIND_NAMES, ENGINE_CODEC } from './engine/messages.js';
export { PeerHost, ProblemEvaluator, type PeerHostInit, type PeerHostPorts } from './host/index.js';
export { encodeFrames, decodeFrame, Reassembler, FrameError, DEFAULT_FRAME_BYTES, type Frame, type ReassemblerLimits } from './frames/index.js';

// Seeded randomness (shared seeds give identical draws on every peer).
export { Streams, keyedRng, SHARED, SERVER, hashString, type Rng } from './rng/index.js';

// Trust: identities (Ed25519; the simulator's keyed MAC), epoch certificates, join tokens.
export type { Identity } from './ports/identity.js';
export {
  Ed25519Identity,
  SimKeyring,
  signToken,
  verifyToken,
  tokenFromText,
  tokenToText,
  ed25519PublicKey,
  ed25519SecretKey,
  peerIdOfEd25519Key,
  ed25519KeyOfPeerId,
  MAX_EPOCH,
  nextEpoch,
} from './trust/index.js';
