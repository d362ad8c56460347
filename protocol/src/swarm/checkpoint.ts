/**
 * A launcher's durable record of its run, from which `masha launch --resume DIR` continues after
 * every process died: a checkpoint of the replica every k rounds, and a write-ahead log of the
 * commits applied since (the formats here; files and fsyncs in node/src/launcher/durable.ts).
 *
 * **Checkpoint** (`checkpoint.bin`, replaced atomically):
 *
 *   "MSHK" | u32 version (1) | u32 n | n bytes of JSON header | state | commit body | SHA-256
 *
 * The header (JSON) names the run, the highest epoch seen, when it was written, the byte length of
 * the state and the last commit's envelope: { kind, epoch, round, phase, sender, codec, bodyBytes,
 * auth }. `auth` is an open record of strings for what makes a commit verifiable beyond its bytes
 * (an aggregator's signature, a certificate): stored and restored as given, so signed commits fit
 * without a format change. The state is the replica exactly as a STATE message carries it (round,
 * commit epoch, digest, iteration, next phase, every vector), so decoding checks it the same way:
 * the vectors must hash to the digest it names. The trailing SHA-256 covers every byte before it:
 * a torn or damaged file is refused as a whole.
 *
 * **Write-ahead log** (`commits.wal`, appended): one record per commit the launcher applied after
 * the checkpoint,
 *
 *   u32 length | u32 CRC-32C of the record | u32 round | u32 epoch | u16 phase | u16 codec |
 *   u8 sender length | sender | body
 *
 * written before the commit's line in events.jsonl, so every round the log says was committed is
 * in the checkpoint or the WAL. Reading stops at the first torn or damaged record (a crash in the
 * middle of an append). The WAL is emptied once a newer checkpoint is durable.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { crc32c } from '../frames/crc32c.js';
import { getU16, getU32, putU16, putU32 } from '../frames/format.js';
import { MashaError } from '../errors.js';
import type { EngineMessage } from '../engine/types.js';
import { utf8DecodeStrict, utf8Encode } from '../utf8.js';

export const CHECKPOINT_MAGIC = 0x4b48534d; // "MSHK" as u32 LE
export const CHECKPOINT_VERSION = 1;

export class CheckpointError extends MashaError {
  constructor(message: string) {
    super('bad-checkpoint', message);
  }
}

/** A commit as stored: its envelope, its body, and whatever authenticates it (signatures). */
export interface StoredCommit {
  readonly message: EngineMessage;
  /** Authentication of the commit (e.g. { sig: hex }), kept as given. */
  readonly auth: Readonly<Record<string, string>>;
}

export interface Checkpoint {
  readonly runId: string;
  /** Highest epoch the launcher had seen (elections continue above it). */
  readonly epoch: number;
  /** Wall-clock time it was written (ms since the Unix epoch). */
  readonly savedAt: number;
  /** The replica as a STATE body (engine/messages.ts encodeState). */
  readonly state: Uint8Array;
  /** The last commit applied, when known. */
  readonly lastCommit: StoredCommit | null;
}

interface HeaderJson {
  runId: string;
  epoch: number;
  savedAt: number;
  stateBytes: number;
  commit: { kind: number; epoch: number; round: number; phase: number; sender: string; codec: number; bodyBytes: number; auth: Record<string, string> } | null;
}

export function encodeCheckpoint(cp: Checkpoint): Uint8Array {
  const m = cp.lastCommit?.message ?? null;
  const header: HeaderJson = {
    runId: cp.runId,
    epoch: cp.epoch,
    savedAt: cp.savedAt,
    stateBytes: cp.state.length,
    commit:
      m === null
        ? null
        : {
            kind: m.kind,
            epoch: m.epoch,
            round: m.round,
            phase: m.phase,
            sender: m.sender,
            codec: m.codec,
            bodyBytes: m.body.length,
            auth: { ...cp.lastCommit!.auth },
          },
  };
  const h = utf8Encode(JSON.stringify(header));
  const body = m?.body ?? new Uint8Array(0);
  const n = 12 + h.length + cp.state.length + body.length;
  const out = new Uint8Array(n + 32);
  putU32(out, 0, CHECKPOINT_MAGIC);
  putU32(out, 4, CHECKPOINT_VERSION);
  putU32(out, 8, h.length);
  out.set(h, 12);
  out.set(cp.state, 12 + h.length);
  out.set(body, 12 + h.length + cp.state.length);
  out.set(sha256(out.subarray(0, n)), n);
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Decodes and checks a checkpoint's framing (checksum, header); the state is checked by the engine that installs it. */
export function decodeCheckpoint(bytes: Uint8Array, runId: string): Checkpoint {
  if (bytes.length < 44) throw new CheckpointError(`checkpoint of ${bytes.length} bytes is too short`);
  if (getU32(bytes, 0) !== CHECKPOINT_MAGIC) throw new CheckpointError('not a Masha checkpoint (bad magic)');
  if (getU32(bytes, 4) !== CHECKPOINT_VERSION) throw new CheckpointError(`unsupported checkpoint version ${getU32(bytes, 4)}`);
  const n = bytes.length - 32;
  const want = sha256(bytes.subarray(0, n));
  for (let i = 0; i < 32; i++) if (want[i] !== bytes[n + i]) throw new CheckpointError('checkpoint checksum does not match (damaged or torn file)');
  const hl = getU32(bytes, 8);
  if (12 + hl > n) throw new CheckpointError('checkpoint header length out of range');
  let header: unknown;
  try {
    header = JSON.parse(utf8DecodeStrict(bytes.subarray(12, 12 + hl)));
  } catch (e) {
    throw new CheckpointError(`checkpoint header is not JSON: ${(e as Error).message}`);
  }
  if (
    !isRecord(header) ||
    typeof header.runId !== 'string' ||
    typeof header.epoch !== 'number' ||
    typeof header.stateBytes !== 'number' ||
    typeof header.savedAt !== 'number'
  ) {
    throw new CheckpointError('checkpoint header lacks runId, epoch, savedAt or stateBytes');
  }
  if (header.runId !== runId) throw new CheckpointError(`checkpoint of run ${header.runId}, not of run ${runId}`);
  const stateAt = 12 + hl;
  const commitAt = stateAt + header.stateBytes;
  if (!Number.isSafeInteger(header.stateBytes) || header.stateBytes < 0 || commitAt > n) throw new CheckpointError('checkpoint state length out of range');
  let lastCommit: StoredCommit | null = null;
  const c = header.commit;
  if (c !== null && c !== undefined) {
    if (!isRecord(c) || typeof c.bodyBytes !== 'number' || commitAt + c.bodyBytes !== n || typeof c.sender !== 'string')
      throw new CheckpointError('checkpoint commit record out of range');
    const auth: Record<string, string> = {};
    if (isRecord(c.auth)) for (const [k, v] of Object.entries(c.auth)) if (typeof v === 'string') auth[k] = v;
    lastCommit = {
      message: {
        kind: Number(c.kind),
        runId,
        epoch: Number(c.epoch),
        round: Number(c.round),
        phase: Number(c.phase),
        sender: c.sender,
        codec: Number(c.codec),
        body: bytes.slice(commitAt, n),
      },
      auth,
    };
  } else if (commitAt !== n) {
    throw new CheckpointError('checkpoint has trailing bytes');
  }
  return { runId, epoch: header.epoch, savedAt: header.savedAt, state: bytes.slice(stateAt, commitAt), lastCommit };
}

/** One write-ahead log record for a commit message. */
export function encodeWalRecord(m: EngineMessage): Uint8Array {
  const s = utf8Encode(m.sender);
  const n = 8 + 13 + s.length + m.body.length;
  const out = new Uint8Array(n);
  putU32(out, 0, n);
  putU32(out, 8, m.round);
  putU32(out, 12, m.epoch);
  putU16(out, 16, m.phase);
  putU16(out, 18, m.codec);
  out[20] = s.length;
  out.set(s, 21);
  out.set(m.body, 21 + s.length);
  putU32(out, 4, crc32c(out, 8, n));
  return out;
}

/**
 * The commits of a write-ahead log, in order, up to the first torn or damaged record;
 * `validBytes` is where that record starts (the length of the log's intact part).
 */
export function readWal(bytes: Uint8Array, runId: string, kind: number): { commits: EngineMessage[]; validBytes: number } {
  const commits: EngineMessage[] = [];
  let at = 0;
  while (at + 21 <= bytes.length) {
    const n = getU32(bytes, at);
    if (n < 21 || at + n > bytes.length) break;
    if (crc32c(bytes, at + 8, at + n) !== getU32(bytes, at + 4)) break;
    const sl = bytes[at + 20];
    if (21 + sl > n) break;
    let sender: string;
    try {
      sender = utf8DecodeStrict(bytes.subarray(at + 21, at + 21 + sl));
    } catch {
      break;
    }
    commits.push({
      kind,
      runId,
      round: getU32(bytes, at + 8),
      epoch: getU32(bytes, at + 12),
      phase: getU16(bytes, at + 16),
      codec: getU16(bytes, at + 18),
      sender,
      body: bytes.slice(at + 21 + sl, at + n),
    });
    at += n;
  }
  return { commits, validBytes: at };
}
