import type { EngineMessage } from '../engine/types.js';
import { decodeFrame } from './decode.js';
import type { Frame, FrameHeader } from './frame.js';
import { FrameError, type FrameErrorCode } from './frame-error.js';
import { chunkCount, chunkLength, getU32, isRunIdHex, MAX_U32, messageDigest, putU32, singleChunkDigest } from './format.js';

export interface ReassemblerLimits {
  /**
   * Largest message body in bytes: a number, or a function of the first frame's header (e.g.
   * from the run's dimension and the frame's codec). Checked before anything is allocated.
   */
  readonly maxMessageBytes: number | ((header: FrameHeader) => number);
  /** Most chunks per message (default 65,536). */
  readonly maxChunks?: number;
  /** Most partial (incomplete) messages per sender (default 8). */
  readonly maxPartialsPerSender?: number;
  /** Most partial messages in all (default 4,096). */
  readonly maxPartials?: number;
  /**
   * Most bytes held by partial messages in all: the chunks received so far (a partial's body
   * buffer only once half of it has arrived) plus CHUNK_OVERHEAD_BYTES of bookkeeping per chunk
   * (default 256 MiB). When a chunk would exceed it, the partials that have waited longest for a
   * chunk are dropped to make room (a message in flight keeps receiving chunks; one a sender
   * abandoned or trickles does not).
   */
  readonly maxBufferedBytes?: number;
  /**
   * Most bytes held by the partial messages of one sender (same accounting; default: a quarter of
   * `maxBufferedBytes`). Give it room for the largest message a sender may legitimately send.
   * When a chunk would exceed it, that sender's other partials that have waited longest are
   * dropped first; if that is not enough the chunk's own partial is dropped ('sender-budget').
   */
  readonly maxBytesPerSender?: number;
  /** Oldest a partial message may get, measured from its first chunk, in the caller's clock units (default 60,000). */
  readonly maxAgeMs?: number;
  /** Accept frames of this run only (64 lower-case hex digits); default: any run. */
  readonly runId?: string;
  /**
   * Keys of this many completed messages are remembered so that late duplicate frames are counted
   * as duplicates instead of being delivered again or starting a stale partial (default 0: off).
   * Only enable it where equal messages (same sender, run, epoch, round, phase, kind and body)
   * are never meant to be delivered twice, or give each message its own id.
   */
  readonly rememberCompleted?: number;
  /**
   * The caller never modifies or reuses the bytes of a frame it passes in (a simulated wire that
   * hands one frame's bytes to many receivers): the body of a one-frame message is then a view of
   * them instead of a copy. Default false: bodies never alias the caller's buffers.
   */
  readonly immutableFrames?: boolean;
}

export interface ReassemblerCounters {
  /** Frames that contributed a new chunk (including single-frame messages). */
  readonly framesAccepted: number;
  /** Messages returned whole by `accept`. */
  readonly messagesCompleted: number;
  /** Frames whose chunk was already held (byte-identical) or whose message was already completed. */
  readonly duplicates: number;
  /** Refused frames by FrameError code (decode errors through `acceptBytes` included). */
  readonly rejected: Readonly<Partial<Record<FrameErrorCode, number>>>;
  /** Partial messages dropped for age. */
  readonly expired: number;
  /** Partial messages now held. */
  readonly partials: number;
  /** Bytes now held by partial messages (received chunks, or the body once allocated, + CHUNK_OVERHEAD_BYTES per chunk). */
  readonly bufferedBytes: number;
  /** Partial messages dropped to make room under a byte budget (total or per sender). */
  readonly evicted: number;
}

/** Bookkeeping bytes charged per chunk held (map entry, CRC, the chunk's view). */
export const CHUNK_OVERHEAD_BYTES = 16;

/**
 * A message being reassembled. Nothing is allocated for chunks that have not arrived: until half
 * of the body is in, chunks are kept as they came (`chunks`, index → bytes and CRC); then the body
 * buffer is allocated and every later chunk is written into it (`body`, `have`, `crcs`). So what a
 * partial holds is at most twice what its sender actually sent, whatever length its header
 * declares.
 */
interface PartialMessage {
  readonly key: string;
  readonly first: FrameHeader;
  readonly sender: string;
  readonly createdAt: number;
  /** When its last new chunk arrived (eviction picks the longest wait). */
  lastChunkAt: number;
  chunks: Map<number, { readonly bytes: Uint8Array; readonly crc: number }> | null;
  body: Uint8Array | null;
  /** have[i] = 1 once chunk i is written into `body`. */
  have: Uint8Array | null;
  /** Chunk CRCs, u32 LE in chunk order (allocated with `body`): the input of the message digest. */
  crcs: Uint8Array | null;
  /** Bytes of chunk payloads received. */
  receivedBytes: number;
  /** Bytes charged against the budgets now. */
  cost: number;
  received: number;
}

function limit(value: number | undefined, fallback: number, name: string, allowZero = false): number {
  const v = value ?? fallback;
  if (typeof v !== 'number' || !(Number.isInteger(v) || v === Infinity) || v < (allowZero ? 0 : 1)) {
    throw new FrameError('bad-options', `${name} must be a ${allowZero ? 'non-negative' : 'positive'} integer, got ${String(v)}`);
  }
  return v;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Reassembles messages from decoded frames under hard limits; sans-I/O (the caller passes `now`).
 * A message is returned only when its chunk CRCs match the digest every one of its frames
 * carries ('bad-digest' otherwise). `accept` trusts a Frame's `payloadCrc`, which `decodeFrame`
 * has verified against the payload.
 *
 * Partial messages are keyed by (run, sender, epoch, round, phase, kind, message id). Duplicate
 * and reordered chunks are fine. A chunk that contradicts its partial (different bytes for a held
 * index, or a different declared length, stride, codec or digest) drops that partial and is refused with
 * FrameError('conflict'); no other partial is touched. Refusals throw FrameError and are counted.
 */
export class Reassembler {
  private readonly maxMessageBytes: (header: FrameHeader) => number;
  private readonly maxChunks: number;
  private readonly maxPartialsPerSender: number;
  private readonly maxPartials: number;
  private readonly maxBufferedBytes: number;
  private readonly maxBytesPerSender: number;
  private readonly maxAge: number;
  private readonly runId: string | undefined;
  private readonly rememberCompleted: number;
  private readonly immutableFrames: boolean;

  private readonly partials = new Map<string, PartialMessage>();
  private readonly bySender = new Map<string, Set<string>>();
  /** Bytes charged per sender. */
  private readonly senderBytes = new Map<string, number>();
  private nEvicted = 0;
  private readonly completed = new Set<string>();
  private buffered = 0;
  private nFramesAccepted = 0;
  private nCompleted = 0;
  private nDuplicates = 0;
  private nExpired = 0;
  private readonly nRejected: Partial<Record<FrameErrorCode, number>> = {};

  constructor(limits: ReassemblerLimits) {
    const m = limits.maxMessageBytes;
    if (typeof m === 'function') this.maxMessageBytes = m;
    else {
      const v = limit(m, 0, 'maxMessageBytes', true);
      this.maxMessageBytes = () => v;
    }
    this.maxChunks = limit(limits.maxChunks, 65_536, 'maxChunks');
    this.maxPartialsPerSender = limit(limits.maxPartialsPerSender, 8, 'maxPartialsPerSender');
    this.maxPartials = limit(limits.maxPartials, 4096, 'maxPartials');
    this.maxBufferedBytes = limit(limits.maxBufferedBytes, 256 * 1024 * 1024, 'maxBufferedBytes');
    this.maxBytesPerSender = Math.min(
      this.maxBufferedBytes,
      limit(limits.maxBytesPerSender, Math.max(1, Math.floor(this.maxBufferedBytes / 4)), 'maxBytesPerSender'),
    );
    const age = limits.maxAgeMs ?? 60_000;
    if (typeof age !== 'number' || !(age >= 0)) throw new FrameError('bad-options', `maxAgeMs must be ≥ 0, got ${String(age)}`);
    this.maxAge = age;
    if (limits.runId !== undefined && !isRunIdHex(limits.runId)) {
      throw new FrameError('bad-options', 'runId must be 64 lower-case hex digits');
    }
    this.runId = limits.runId;
    this.rememberCompleted = limit(limits.rememberCompleted, 0, 'rememberCompleted', true);
    this.immutableFrames = limits.immutableFrames === true;
  }

  /** Decodes `bytes` and accepts the frame; decode failures are counted like other refusals. */
  acceptBytes(bytes: Uint8Array, now: number, from?: string): EngineMessage | null {
    let frame: Frame;
    try {
      frame = decodeFrame(bytes);
    } catch (e) {
      if (e instanceof FrameError) this.count(e.code);
      throw e;
    }
    return this.accept(frame, now, from);
  }

  /**
   * Takes one decoded frame. Returns the whole message when this frame completes it, else null.
   * `from`, when given, is the transport-authenticated peer: a frame naming another sender is
   * refused ('sender-mismatch'). Throws FrameError (counted) when the frame is refused.
   */
  accept(frame: Frame, now: number, from?: string): EngineMessage | null {
    if (typeof now !== 'number' || Number.isNaN(now)) throw new FrameError('bad-options', 'now must be a number');
    if (from !== undefined && frame.sender !== from) {
      this.refuse('sender-mismatch', `frame names sender ${frame.sender} but came from ${from}`);
    }
    if (this.runId !== undefined && frame.runId !== this.runId) this.refuse('wrong-run', `frame of run ${frame.runId}`);
    this.checkGeometry(frame);
    const maxBytes = this.maxMessageBytes(frame);
    if (!(frame.totalLength <= maxBytes)) {
      this.refuse('message-too-large', `message of ${frame.totalLength} bytes exceeds the ${maxBytes}-byte limit`);
    }
    if (frame.count > this.maxChunks) {
      this.refuse('too-many-chunks', `message of ${frame.count} chunks exceeds the ${this.maxChunks}-chunk limit`);
    }

    if (frame.count === 1 && this.partials.size === 0 && this.rememberCompleted === 0) {
      // No partial to complete or contradict and nothing completed remembered: the key is not needed.
      return this.completeSingle('', frame);
    }
    const key = `${frame.sender}\u0000${frame.runId}:${frame.epoch}:${frame.round}:${frame.phase}:${frame.kind}:${frame.messageId}`;
    if (this.completed.has(key)) {
      this.nDuplicates++;
      return null;
    }

    let p = this.partials.get(key);
    if (p !== undefined && now - p.createdAt > this.maxAge) {
      this.drop(p);
      this.nExpired++;
      p = undefined;
    }
    if (p !== undefined) return this.addChunk(p, frame, now);

    if (frame.count === 1) return this.completeSingle(key, frame);
    return this.startPartial(key, frame, now);
  }

  /** A one-frame message: digest check, then the body (a copy unless frames are immutable). */
  private completeSingle(key: string, frame: Frame): EngineMessage {
    if (singleChunkDigest(frame, frame.payloadCrc) !== frame.digest) this.refuse('bad-digest', 'chunk does not match the message digest');
    this.nFramesAccepted++;
    return this.complete(key, frame, this.immutableFrames ? frame.payload : frame.payload.slice());
  }

  /** Drops partial messages older than the age limit; returns how many. */
  expire(now: number): number {
    let n = 0;
    for (const p of this.partials.values()) {
      if (now - p.createdAt > this.maxAge) {
        this.drop(p);
        n++;
      }
    }
    this.nExpired += n;
    return n;
  }

  /** Drops every partial message of `sender` (e.g. a peer that left); returns how many. */
  dropSender(sender: string): number {
    const mine = this.bySender.get(sender);
    if (mine === undefined) return 0;
    const n = mine.size;
    for (const k of [...mine]) this.drop(this.partials.get(k)!);
    return n;
  }

  get counters(): ReassemblerCounters {
    return {
      framesAccepted: this.nFramesAccepted,
      messagesCompleted: this.nCompleted,
      duplicates: this.nDuplicates,
      rejected: { ...this.nRejected },
      expired: this.nExpired,
      partials: this.partials.size,
      bufferedBytes: this.buffered,
      evicted: this.nEvicted,
    };
  }

  private startPartial(key: string, frame: Frame, now: number): EngineMessage | null {
    let mine = this.bySender.get(frame.sender);
    if (mine !== undefined && mine.size >= this.maxPartialsPerSender) {
      for (const k of mine) {
        const q = this.partials.get(k)!;
        if (now - q.createdAt > this.maxAge) {
          this.drop(q);
          this.nExpired++;
        }
      }
      if (mine.size >= this.maxPartialsPerSender) {
        this.refuse('too-many-partials', `sender ${frame.sender} already has ${mine.size} partial messages`);
      }
    }
    if (this.partials.size >= this.maxPartials) {
      this.refuse('buffer-full', `${this.partials.size} partial messages held (limit ${this.maxPartials})`);
    }
    // The first chunk alone can never fit: refuse before keeping anything.
    const firstCost = frame.payload.length + CHUNK_OVERHEAD_BYTES;
    if (firstCost > this.maxBytesPerSender || firstCost > this.maxBufferedBytes) {
      this.refuse('buffer-full', `a chunk of ${frame.payload.length} bytes exceeds the byte budget`);
    }
    const p: PartialMessage = {
      key,
      first: frame,
      sender: frame.sender,
      createdAt: now,
      lastChunkAt: now,
      chunks: new Map(),
      body: null,
      have: null,
      crcs: null,
      receivedBytes: 0,
      cost: 0,
      received: 0,
    };
    this.partials.set(key, p);
    if (mine === undefined) {
      mine = new Set();
      this.bySender.set(frame.sender, mine);
    }
    mine.add(key);
    return this.addChunk(p, frame, now);
  }

  private addChunk(p: PartialMessage, frame: Frame, now: number): EngineMessage | null {
    const h = p.first;
    if (frame.totalLength !== h.totalLength || frame.stride !== h.stride || frame.codec !== h.codec || frame.count !== h.count || frame.digest !== h.digest) {
      this.drop(p);
      this.refuse(
        'conflict',
        `chunk ${frame.index} declares length ${frame.totalLength}, stride ${frame.stride}, codec ${frame.codec}, digest ${frame.digest}; ` +
          `message has ${h.totalLength}, ${h.stride}, ${h.codec}, ${h.digest}`,
      );
    }
    const i = frame.index;
    const offset = i * h.stride;
    const held =
      p.body !== null
        ? p.have![i] === 1
          ? { bytes: p.body.subarray(offset, offset + frame.payload.length), crc: getU32(p.crcs!, 4 * i) }
          : undefined
        : p.chunks!.get(i);
    if (held !== undefined) {
      if (held.crc === frame.payloadCrc && sameBytes(held.bytes, frame.payload)) {
        this.nDuplicates++;
        return null;
      }
      this.drop(p);
      this.refuse('conflict', `chunk ${i} arrived twice with different bytes`);
    }
    // Charge the chunk (or, at the half-way mark, the body buffer it moves into) before keeping it.
    const n = frame.payload.length;
    const allocate = p.body === null && 2 * (p.receivedBytes + n) >= h.totalLength;
    const newCost =
      (allocate ? h.totalLength : p.body !== null ? p.cost - CHUNK_OVERHEAD_BYTES * p.received : p.receivedBytes + n) + CHUNK_OVERHEAD_BYTES * (p.received + 1);
    this.makeRoom(p, newCost - p.cost, now);
    this.charge(p, newCost - p.cost);
    if (allocate) {
      const body = new Uint8Array(h.totalLength);
      const have = new Uint8Array(h.count);
      const crcs = new Uint8Array(4 * h.count);
      for (const [j, c] of p.chunks!) {
        body.set(c.bytes, j * h.stride);
        have[j] = 1;
        putU32(crcs, 4 * j, c.crc);
      }
      p.body = body;
      p.have = have;
      p.crcs = crcs;
      p.chunks = null;
    }
    if (p.body !== null) {
      p.body.set(frame.payload, offset);
      p.have![i] = 1;
      putU32(p.crcs!, 4 * i, frame.payloadCrc);
    } else {
      p.chunks!.set(i, { bytes: this.immutableFrames ? frame.payload : frame.payload.slice(), crc: frame.payloadCrc });
    }
    p.receivedBytes += n;
    p.received++;
    p.lastChunkAt = now;
    this.nFramesAccepted++;
    if (p.received < h.count) return null;
    this.drop(p);
    // Complete: the body was allocated at the half-way mark at the latest (a one-chunk message
    // never gets here), so every chunk is in it.
    if (messageDigest(h, p.crcs!) !== h.digest) {
      this.refuse('bad-digest', 'reassembled chunks do not match the message digest');
    }
    return this.complete(p.key, h, p.body!);
  }

  /**
   * Makes room for `extra` more bytes of partial `p` under the per-sender and total budgets by
   * dropping the partials that have waited longest for a chunk (the sender's own first); refuses
   * the chunk (dropping `p`) when that cannot be done without dropping `p` itself.
   */
  private makeRoom(p: PartialMessage, extra: number, now: number): void {
    if (extra <= 0) return;
    const senderHeld = this.senderBytes.get(p.sender) ?? 0;
    if (senderHeld + extra > this.maxBytesPerSender) {
      const mine = [...(this.bySender.get(p.sender) ?? [])].map((k) => this.partials.get(k)!).filter((q) => q !== p);
      mine.sort((a, b) => a.lastChunkAt - b.lastChunkAt);
      let held = senderHeld;
      for (const q of mine) {
        if (held + extra <= this.maxBytesPerSender) break;
        held -= q.cost;
        this.drop(q);
        this.nEvicted++;
      }
      if (held + extra > this.maxBytesPerSender) {
        this.drop(p);
        this.refuse('sender-budget', `sender ${p.sender} holds ${held} bytes of partial messages; ${extra} more would exceed ${this.maxBytesPerSender}`);
      }
    }
    if (this.buffered + extra > this.maxBufferedBytes) {
      const others = [...this.partials.values()].filter((q) => q !== p && now - q.lastChunkAt >= 0);
      others.sort((a, b) => a.lastChunkAt - b.lastChunkAt);
      for (const q of others) {
        if (this.buffered + extra <= this.maxBufferedBytes) break;
        this.drop(q);
        this.nEvicted++;
      }
      if (this.buffered + extra > this.maxBufferedBytes) {
        this.drop(p);
        this.refuse('buffer-full', `holding ${this.buffered} bytes; ${extra} more would exceed ${this.maxBufferedBytes}`);
      }
    }
  }

  private charge(p: PartialMessage, delta: number): void {
    p.cost += delta;
    this.buffered += delta;
    this.senderBytes.set(p.sender, (this.senderBytes.get(p.sender) ?? 0) + delta);
  }

  private complete(key: string, h: FrameHeader, body: Uint8Array): EngineMessage {
    this.nCompleted++;
    if (this.rememberCompleted > 0) {
      this.completed.add(key);
      if (this.completed.size > this.rememberCompleted) {
        this.completed.delete(this.completed.values().next().value!);
      }
    }
    return { kind: h.kind, runId: h.runId, epoch: h.epoch, round: h.round, phase: h.phase, sender: h.sender, codec: h.codec, body };
  }

  /** Re-checks what `decodeFrame` guarantees, for frames built by hand; the buffer writes rely on it. */
  private checkGeometry(f: Frame): void {
    const ok =
      Number.isInteger(f.totalLength) &&
      f.totalLength >= 0 &&
      f.totalLength <= MAX_U32 &&
      Number.isInteger(f.stride) &&
      f.stride >= 1 &&
      f.count === chunkCount(f.totalLength, f.stride) &&
      Number.isInteger(f.index) &&
      f.index >= 0 &&
      f.index < f.count &&
      f.payload instanceof Uint8Array &&
      f.payload.length === chunkLength(f.totalLength, f.stride, f.index, f.count) &&
      typeof f.payloadCrc === 'number' &&
      typeof f.digest === 'number' &&
      typeof f.sender === 'string';
    if (!ok) this.refuse('bad-header', 'frame geometry is inconsistent');
  }

  private drop(p: PartialMessage): void {
    if (!this.partials.delete(p.key)) return;
    this.buffered -= p.cost;
    const left = (this.senderBytes.get(p.sender) ?? 0) - p.cost;
    if (left > 0) this.senderBytes.set(p.sender, left);
    else this.senderBytes.delete(p.sender);
    p.cost = 0;
    const mine = this.bySender.get(p.sender);
    if (mine !== undefined) {
      mine.delete(p.key);
      if (mine.size === 0) this.bySender.delete(p.sender);
    }
  }

  private count(code: FrameErrorCode): void {
    this.nRejected[code] = (this.nRejected[code] ?? 0) + 1;
  }

  private refuse(code: FrameErrorCode, message: string): never {
    this.count(code);
    throw new FrameError(code, message);
  }
}
