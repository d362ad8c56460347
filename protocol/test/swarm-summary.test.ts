/**
 * The run summary schema shared by the simulator and the real swarm: each host's own sections,
 * the null fields that have no meaning for one of them, and the refusal of anything else.
 */
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../src/errors.js';
import { parseRunSummary, STOP_REASONS } from '../src/swarm/index.js';

const common = {
  runId: 'a'.repeat(64),
  startedAt: '2026-11-25T14:03:07.123Z',
  stop: 'done:target',
  reached: true,
  target: 1e-6,
  iterations: 190,
  rounds: 380,
  committedRounds: 380,
  abortedRounds: 0,
  elections: 1,
  lateFrames: 0,
  rejectedFrames: 0,
  staleMessages: 0,
  finalRelDist: 9.1e-7,
  finalOpNormSq: 1.2e-9,
  uplinkBytes: 1_000,
  downlinkBytes: 2_000,
  wireBytes: 9_000,
  logSha256: 'b'.repeat(64),
  wallSeconds: 1.5,
  consistent: true,
  peersAtEnd: 5,
  digest: '0123abcd',
};

const simulator = {
  ...common,
  host: 'simulator',
  framesLost: 3,
  simSeconds: 42.5,
  simulation: { seed: 1, fanout: 6, link: { computeMs: 1, uplinkMbps: 10, downlinkMbps: 50, latencyMs: 20, jitterMs: 5, loss: 0 }, events: 'all' },
};

const swarm = {
  ...common,
  host: 'swarm',
  framesLost: null,
  simSeconds: null,
  peersSeen: 5,
  swarm: { relays: ['/ip4/127.0.0.1/tcp/1/p2p/x'], launcher: 'L', frameBytes: 65_536, launcherWire: { sent: 1, received: 2 }, peers: [] },
};

describe('run summary schema', () => {
  it('reads a simulator summary and a swarm summary alike', () => {
    expect(parseRunSummary(simulator).simulation?.fanout).toBe(6);
    expect(parseRunSummary(swarm).swarm?.frameBytes).toBe(65_536);
    for (const s of [simulator, swarm]) {
      const r = parseRunSummary(JSON.parse(JSON.stringify(s)));
      expect(r.reached).toBe(true);
      expect(r.committedRounds).toBe(380);
    }
    expect(STOP_REASONS).toContain('interrupted');
  });

  it('refuses a section or a null of the other host, unknown fields and bad values, naming the field', () => {
    const bad: [unknown, RegExp][] = [
      [{ ...simulator, swarm: swarm.swarm }, /^host:/],
      [{ ...swarm, simSeconds: 3 }, /^host:/],
      [{ ...simulator, framesLost: null }, /^host:/],
      [{ ...swarm, reched: true }, /reched/],
      [{ ...swarm, stop: 'done' }, /^stop:/],
      [{ ...swarm, abortedRounds: -1 }, /^abortedRounds:/],
      [{ ...swarm, startedAt: 'yesterday' }, /^startedAt:/],
      [{ ...swarm, rounds: 10 }, /^committedRounds:/],
      [{ ...swarm, runId: 'xyz' }, /^runId:/],
    ];
    for (const [value, message] of bad) {
      let err: unknown = null;
      try {
        parseRunSummary(value);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as Error).message).toMatch(message);
    }
  });
});
