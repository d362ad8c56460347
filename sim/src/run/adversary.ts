/**
 * Lying peers for the simulator (issue 14's attacks): each wraps one port of a real peer — its
 * evaluator or its frame link — and leaves its engine as it is, so the attacker speaks the protocol
 * perfectly and lies only where an attacker can.
 *
 * - `scaled(k)`: every operator value the peer computes is multiplied by k (×10 → a wrong fixed
 *   point; 1e30 → divergence). Its answers are well-formed and pass every decoder.
 * - `garbagePayloads()`: every payload of its uplinks is replaced by bytes of all ones (NaN as
 *   float32, invalid codes otherwise) — refused by the decoders.
 * - `infinitePayloads()`: the same with float32 ±∞.
 * - `mute()`: the peer joins, heartbeats and takes shards, but its evaluations never finish.
 * - `auditLiar()`: honest as a holder, but its answers to audits are altered (low bits flipped).
 */
import { decodeFrame, encodeFrames, MSG, Reassembler, type EngineMessage, type EvaluationRequest } from '@masha/protocol';
import { decodeUplink, encodeUplink, UP_AUDIT, UP_FRESH } from '@masha/protocol/engine';
import type { Evaluator, FrameLink } from '@masha/protocol/ports';
import type { Adversary } from './simulate.js';

function scaleValues(request: EvaluationRequest, k: number): void {
  for (const item of request.items) {
    for (const e of item.evaluations) {
      const v = e.value;
      for (let i = 0; i < v.length; i++) v[i] *= k;
    }
  }
}

/** Values scaled by k in every computation (answers and audits). */
export function scaled(k: number): Adversary {
  return {
    evaluator: (honest: Evaluator): Evaluator => ({
      evaluate(request, complete) {
        honest.evaluate(request, (err) => {
          if (err === null) scaleValues(request, k);
          complete(err);
        });
      },
    }),
  };
}

/** Never finishes an evaluation: takes shards, never answers. */
export function mute(): Adversary {
  return { evaluator: (): Evaluator => ({ evaluate: () => undefined }) };
}

/** Rewrites the uplinks this peer sends (frames decoded, entries changed, frames re-encoded). */
function rewritingLink(honest: FrameLink, rewrite: (flags: number, payload: Uint8Array) => Uint8Array): FrameLink {
  return {
    send(to, frames, meta) {
      if (meta.kind !== MSG.UPLINK) {
        honest.send(to, frames, meta);
        return;
      }
      const r = new Reassembler({ maxMessageBytes: 1 << 30 });
      let msg: EngineMessage | null = null;
      for (const f of frames) msg = r.accept(decodeFrame(f), 0) ?? msg;
      if (msg === null) return;
      const body = decodeUplink(msg.body, { shards: 1 << 20, maxPayloadBytes: 1 << 30, allShards: [] });
      const entries = body.entries.map((e) => (e.flags & UP_FRESH ? e : { ...e, payload: rewrite(e.flags, e.payload) }));
      const out = encodeFrames(
        { ...msg, body: encodeUplink({ attempt: body.attempt, entries }) },
        { frameSize: Math.max(...frames.map((f) => f.length), 512) },
      );
      let bytes = 0;
      for (const f of out) bytes += f.length;
      honest.send(to, out, { ...meta, bytes });
    },
    broadcast: (frames, meta) => honest.broadcast(frames, meta),
  };
}

/** Every uplink payload replaced by 0xFF bytes of the same length. */
export function garbagePayloads(): Adversary {
  return { link: (honest) => rewritingLink(honest, (_flags, p) => new Uint8Array(p.length).fill(0xff)) };
}

/** Every uplink payload replaced by float32 +∞, −∞, +∞, … of the same length (little-endian). */
export function infinitePayloads(): Adversary {
  return {
    link: (honest) =>
      rewritingLink(honest, (_flags, p) => {
        const out = new Uint8Array(p.length);
        for (let i = 0; i + 3 < out.length; i += 4) {
          out[i + 2] = 0x80;
          out[i + 3] = (i >> 2) & 1 ? 0xff : 0x7f;
        }
        return out;
      }),
  };
}

/** Answers its own shards honestly; its answers to audits have the low bits of every fourth byte flipped. */
export function auditLiar(mask = 1): Adversary {
  return {
    link: (honest) =>
      rewritingLink(honest, (flags, p) => {
        if (!(flags & UP_AUDIT)) return p;
        // Flip the lowest bit of every byte: a different answer of the same size.
        const out = p.slice();
        for (let i = 0; i < out.length; i += 4) out[i] ^= mask & 0xff;
        return out;
      }),
  };
}
