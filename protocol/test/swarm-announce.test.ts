import { utf8Encode } from '../src/utf8.js';
import { describe, expect, it } from 'vitest';
import { encodeFrames, parseManifest, runIdOf, sha256Hex } from '@masha/protocol';
import { AnnouncementReader, ANNOUNCE_KIND, encodeAnnouncement, JSON_CODEC, pinProblemFile, type RunAnnouncement } from '../src/swarm/announce.js';
import { decodeRegistry, encodeRegistry, runRecordOf } from '../src/swarm/registry.js';
import { ValidationError } from '../src/errors.js';

const LAUNCHER = '12D3KooWLauncher';
const manifest = parseManifest({ problem: { kind: 'bilinear', d: 20, M: 4 }, method: { name: 'masha1' }, stop: { iterations: 50, target: 1e-6 } });

function feed(reader: AnnouncementReader, frames: readonly Uint8Array[], from: string | undefined = LAUNCHER) {
  let out = null;
  for (const f of frames) out = reader.accept(f, 0, from) ?? out;
  return out;
}

const rawFrames = (runId: string, body: Uint8Array, sender = LAUNCHER) =>
  encodeFrames({ kind: ANNOUNCE_KIND, runId, epoch: 0, round: 0, phase: 0, sender, codec: JSON_CODEC, body }, { frameSize: 1024, messageId: 9 });

describe('run announcements', () => {
  it('round-trip: the reader returns the validated manifest, the run id and the authenticated launcher', () => {
    const frames = encodeAnnouncement({ manifest, files: {}, state: 'open', startedAt: 1000 }, LAUNCHER, 1, 64 * 1024);
    expect(frames.length).toBe(1);
    const a = feed(new AnnouncementReader(), frames);
    expect(a).not.toBeNull();
    expect(a?.runId).toBe(runIdOf(manifest));
    expect(a?.manifest).toEqual(manifest);
    expect(a?.state).toBe('open');
    expect(a?.launcher).toBe(LAUNCHER);
  });

  it('a finished run carries its outcome; the relay registry records it and readers check it', () => {
    const outcome = { stop: 'done:target', reached: true, iterations: 50, committedRounds: 100 } as const;
    const a = feed(new AnnouncementReader(), encodeAnnouncement({ manifest, files: {}, state: 'finished', startedAt: 1000, outcome }, LAUNCHER, 3, 64 * 1024));
    expect(a?.outcome).toEqual(outcome);
    const rec = runRecordOf(a as RunAnnouncement, 1234.4);
    expect(rec).toEqual({
      runId: runIdOf(manifest),
      state: 'finished',
      method: 'masha1',
      compressor: 'dither:p=2,s=8',
      launcher: LAUNCHER,
      startedAt: 1000,
      lastSeenMsAgo: 1234,
      outcome,
    });
    expect(decodeRegistry(encodeRegistry([rec]))).toEqual([rec]);
    // A bad outcome makes the whole announcement invalid; a bad registry answer is a ValidationError.
    const badBody = utf8Encode(JSON.stringify({ v: 1, manifest, files: {}, state: 'finished', startedAt: 0, outcome: { ...outcome, stop: 'won' } }));
    const reader = new AnnouncementReader();
    expect(feed(reader, rawFrames(runIdOf(manifest), badBody))).toBeNull();
    expect(reader.rejected['bad-envelope']).toBe(1);
    expect(() => decodeRegistry(utf8Encode(JSON.stringify({ v: 1, runs: [{ ...rec, runId: 'x' }] })))).toThrow(/registry\.runs\.0\.runId/);
    expect(() => decodeRegistry(new Uint8Array(300 * 1024))).toThrow(ValidationError);
  });

  it('chunks a large announcement (inline problem) into frames and reassembles it', () => {
    const data = {
      kind: 'bilinear',
      d: 2,
      M: 1,
      lambda: 0.1,
      A: [
        [
          [1, 0],
          [0, 1],
        ],
      ],
      a: [[0.5, -0.25]],
      b: [[0.125, 1]],
      note: 'x'.repeat(5000),
    };
    const big = parseManifest({ problem: { kind: 'inline', data }, method: { name: 'masha1' } });
    const frames = encodeAnnouncement({ manifest: big, files: {}, state: 'open', startedAt: 0 }, LAUNCHER, 2, 1024);
    expect(frames.length).toBeGreaterThan(4);
    const reader = new AnnouncementReader();
    // Reverse order: reassembly does not depend on arrival order.
    const a = feed(reader, [...frames].reverse());
    expect(a?.runId).toBe(runIdOf(big));
  });

  it('refuses a manifest whose hash is not the announced run id', () => {
    const other = parseManifest({ ...manifest, seed: 99 });
    const body = utf8Encode(JSON.stringify({ v: 1, manifest: other, files: {}, state: 'open', startedAt: 0 }));
    const reader = new AnnouncementReader();
    expect(feed(reader, rawFrames(runIdOf(manifest), body))).toBeNull();
    expect(reader.rejected['run-id-mismatch']).toBe(1);
  });

  it('refuses bad JSON, bad envelopes and invalid manifests, counting each by reason', () => {
    const id = runIdOf(manifest);
    const reader = new AnnouncementReader();
    feed(reader, rawFrames(id, utf8Encode('{not json')));
    feed(reader, rawFrames(id, utf8Encode(JSON.stringify({ v: 1, manifest, files: {}, state: 'paused', startedAt: 0 }))));
    feed(
      reader,
      rawFrames(
        id,
        utf8Encode(JSON.stringify({ v: 1, manifest: { ...manifest, network: { ...manifest.network, leaseMs: -5 } }, files: {}, state: 'open', startedAt: 0 })),
      ),
    );
    expect(reader.rejected).toMatchObject({ 'bad-json': 1, 'bad-envelope': 1, 'bad-manifest': 1 });
  });

  it('refuses frames whose sender is not their authenticated author, and random bytes', () => {
    const frames = encodeAnnouncement({ manifest, files: {}, state: 'open', startedAt: 0 }, LAUNCHER, 3, 64 * 1024);
    const reader = new AnnouncementReader();
    expect(feed(reader, frames, '12D3KooWSomeoneElse')).toBeNull();
    expect(reader.rejected['sender-mismatch']).toBe(1);
    expect(reader.accept(new Uint8Array([1, 2, 3, 4, 5]), 0, LAUNCHER)).toBeNull();
    expect(reader.rejected['too-short']).toBe(1);
  });

  it('carries a problem file pinned by SHA-256, and refuses an altered file', () => {
    const text = JSON.stringify({ kind: 'bilinear', d: 1, M: 1, lambda: 1, A: [[[2]]], a: [[1]], b: [[0]] });
    const withFile = parseManifest({ problem: { kind: 'file', path: 'p.json' }, method: { name: 'masha1' } });
    const pinned = pinProblemFile(withFile, () => text);
    expect(pinned.manifest.problem).toEqual({ kind: 'file', path: 'p.json', sha256: sha256Hex(text) });
    const frames = encodeAnnouncement({ manifest: pinned.manifest, files: pinned.files, state: 'open', startedAt: 0 }, LAUNCHER, 4, 64 * 1024);
    expect(feed(new AnnouncementReader(), frames)?.files['p.json']).toBe(text);
    const tampered = utf8Encode(JSON.stringify({ v: 1, manifest: pinned.manifest, files: { 'p.json': text.replace('2', '3') }, state: 'open', startedAt: 0 }));
    const reader = new AnnouncementReader();
    expect(feed(reader, rawFrames(runIdOf(pinned.manifest), tampered))).toBeNull();
    expect(reader.rejected['bad-file']).toBe(1);
  });
});
