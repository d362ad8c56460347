/**
 * Decodes of aggregator bodies shared by the peers of one process (one per run context, like the
 * work pool): the decoded COMMIT and its decoded downlink payload, and the decoded OPEN (whose
 * assignment delta lists every shard when a round opens a new epoch).
 *
 * Decoding is a pure function of the bytes (and of the run's limits and dimension), and bodies
 * are never modified once received. The simulator hands one broadcast to every recipient as one
 * body object, so its 1,000 peers would decode the same bytes 1,000 times a round; here the first
 * recipient decodes them and the others, holding the very same object, get its result. Separate
 * processes (Node, browsers) never share a body object: each decodes its own, as before. A body
 * that fails to decode is not remembered (every recipient refuses it for itself).
 *
 * Only the last few bodies are kept (a handful of slots, not a map of every body), so what is
 * held stays bounded by a few payloads whatever the run's dimension. A decoded payload is handed
 * out read-only: callers never modify or release it; it goes back to its compressor's pool when
 * its slot is reused (its appliers are done with it by then: applying is synchronous).
 */
import type { Compressor, Payload } from '../compress/types.js';
import { type BodyLimits, type DecodedCommit, type DecodedOpen, decodeCommit, decodeOpen } from './messages.js';

/** Slots kept per kind: the current commit, and one more for a replay or an overtaking commit. */
const SLOTS = 2;

/** The last SLOTS (bytes, limits) → decoded body pairs of one kind, replaced in turn. */
class BodyDecodes<B> {
  private readonly slots: { bytes: Uint8Array | null; limits: BodyLimits | null; body: B | null }[] = [];
  private next = 0;

  constructor(private readonly decode: (bytes: Uint8Array, limits: BodyLimits) => B) {
    for (let i = 0; i < SLOTS; i++) this.slots.push({ bytes: null, limits: null, body: null });
  }

  get(bytes: Uint8Array, limits: BodyLimits): B {
    for (const s of this.slots) if (s.bytes === bytes && s.limits === limits) return s.body as B;
    const body = this.decode(bytes, limits);
    const s = this.slots[this.next];
    this.next = (this.next + 1) % SLOTS;
    s.bytes = bytes;
    s.limits = limits;
    s.body = body;
    return body;
  }
}

interface PayloadSlot {
  bytes: Uint8Array | null;
  codec: Compressor | null;
  dim: number;
  payload: Payload | null;
}

export class SharedDecodes {
  private readonly commits = new BodyDecodes<DecodedCommit>(decodeCommit);
  private readonly opens = new BodyDecodes<DecodedOpen>(decodeOpen);
  private readonly payloads: PayloadSlot[] = [];
  private nextPayload = 0;

  constructor() {
    for (let i = 0; i < SLOTS; i++) this.payloads.push({ bytes: null, codec: null, dim: 0, payload: null });
  }

  /** `decodeCommit(bytes, limits)`, shared with the other holders of the same body object. */
  commit(bytes: Uint8Array, limits: BodyLimits): DecodedCommit {
    return this.commits.get(bytes, limits);
  }

  /** `decodeOpen(bytes, limits)`, shared with the other holders of the same body object (read-only). */
  open(bytes: Uint8Array, limits: BodyLimits): DecodedOpen {
    return this.opens.get(bytes, limits);
  }

  /**
   * `codec.decode(bytes, dim)` of a commit's downlink payload (a view into a received body),
   * shared with the other holders of the same bytes. Read-only; never release it.
   */
  downlink(codec: Compressor, bytes: Uint8Array, dim: number): Payload {
    for (const s of this.payloads) if (s.bytes === bytes && s.codec === codec && s.dim === dim) return s.payload as Payload;
    const payload = codec.decode(bytes, dim);
    const s = this.payloads[this.nextPayload];
    this.nextPayload = (this.nextPayload + 1) % SLOTS;
    if (s.payload !== null) s.codec?.release?.(s.payload);
    s.bytes = bytes;
    s.codec = codec;
    s.dim = dim;
    s.payload = payload;
    return payload;
  }
}
