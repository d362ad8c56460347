/**
 * Inbound uplink streams idle past the timeout are closed (a peer cannot hold stream slots open
 * for nothing), and a sender whose own outbound stream was closed for idleness reopens one on its
 * next send.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { peerIdFromString } from '@libp2p/peer-id';
import { createMashaNode, createSwarmTransport, UPLINK_PROTOCOL } from '../src/net/index.js';
import type { SwarmTransport } from '../src/net/index.js';
import { FAST, randomBytes, startSwarm, waitFor } from './net-helpers.js';
import type { TestSwarm } from './net-helpers.js';

describe('idle uplink streams', { timeout: 60_000 }, () => {
  let swarm: TestSwarm;
  let server: SwarmTransport;

  beforeAll(async () => {
    swarm = await startSwarm(1);
    server = await createSwarmTransport(await createMashaNode({ ...FAST, bootstrap: swarm.relay.multiaddrs }), { streamIdleMs: 400 });
  }, 60_000);

  afterAll(async () => {
    await server?.close();
    await swarm?.stop();
  }, 30_000);

  it('closes an inbound stream that sends nothing, and the next send reopens one', async () => {
    const client = swarm.peers[0];
    const got: number[] = [];
    server.onDirect((_from, f) => got.push(f.byteLength));
    await waitFor(() => client.connectedPeers().includes(server.self), 30_000, 'the client to find the server');
    // A stream opened and left silent.
    const silent = await client.node.libp2p.dialProtocol(peerIdFromString(server.self), UPLINK_PROTOCOL);
    await waitFor(() => server.counters().rejected.idle >= 1, 10_000, 'the idle stream to be closed');
    await waitFor(() => silent.status !== 'open' || silent.readStatus !== 'readable', 10_000, 'the silent stream to end at the client');
    // Ordinary sends: one, a pause past the timeout, another (on a fresh stream).
    await client.sendDirect(server.self, randomBytes(1000, 1));
    await new Promise((r) => setTimeout(r, 1_200));
    await client.sendDirect(server.self, randomBytes(1000, 2));
    await waitFor(() => got.length === 2, 10_000, 'both frames to arrive');
    expect(got).toEqual([1000, 1000]);
  });
});
