/**
 * Gossipsub topic names of the swarm. The relay follows every `masha/…` topic except uplink and
 * `masha/_…` topics (net/relay.ts), so these are all propagated through it as well as through the
 * volunteers' own mesh.
 *
 * - `masha/runs/1`: run announcements (a launcher republishes its run's manifest periodically).
 * - `masha/run/<runId>/bcast`: the engine's broadcasts (ANNOUNCE, OPEN, COMMIT) as frames.
 * - `masha/run/<runId>/status`: small JSON status reports of the peers of a run (status.ts).
 *
 * The uplink to the aggregator (heartbeats, UPLINK, state transfer) goes over direct
 * `/masha/uplink/1.0.0` streams, not over a topic: see the README's "uplink" section.
 */
export const RUNS_TOPIC = 'masha/runs/1';

const RUN_ID = /^[0-9a-f]{64}$/;

function checkRunId(runId: string): string {
  if (!RUN_ID.test(runId)) throw new RangeError(`run id must be 64 lower-case hex digits, got ${JSON.stringify(runId)}`);
  return runId;
}

export function broadcastTopic(runId: string): string {
  return `masha/run/${checkRunId(runId)}/bcast`;
}

export function statusTopic(runId: string): string {
  return `masha/run/${checkRunId(runId)}/status`;
}

export function isRunId(text: string): boolean {
  return RUN_ID.test(text);
}
