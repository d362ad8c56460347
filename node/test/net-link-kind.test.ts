/**
 * `linkKindOf` (swarm-transport.ts): which kind of connection a stream runs on, as the tree
 * channel's per-link counters report it — relayed (limited circuit connections, whatever the
 * address), direct WebRTC (a tab's `/p2p-circuit/webrtc` link, or WebRTC-direct), or another
 * direct connection (TCP, WebSocket).
 */
import { multiaddr } from '@multiformats/multiaddr';
import { describe, expect, it } from 'vitest';
import { linkKindOf } from '../src/net/swarm-transport.js';

const RELAY = '12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN';
const PEER = '12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK';
const LIMITS = { bytes: 1n << 17n, seconds: 120 };

describe('linkKindOf', () => {
  it('tells direct WebRTC, relayed and other direct connections apart by their limits and remote multiaddr', () => {
    const of = (addr: string, limited = false): string => linkKindOf({ remoteAddr: multiaddr(addr), limits: limited ? LIMITS : undefined });
    // A tab's WebRTC link, signalled through the relay: unlimited, so direct.
    expect(of(`/ip4/10.213.0.1/tcp/4001/ws/p2p/${RELAY}/p2p-circuit/webrtc/p2p/${PEER}`)).toBe('webrtc');
    expect(of(`/ip4/10.213.0.2/udp/5000/webrtc-direct/certhash/uEiBy_U1UNQ0IDvot_PKlQM_QeU3yx-zCAVaMxxVm2JxWBg/p2p/${PEER}`)).toBe('webrtc');
    // The relayed connection the WebRTC link was signalled over.
    expect(of(`/ip4/10.213.0.1/tcp/4001/ws/p2p/${RELAY}/p2p-circuit/p2p/${PEER}`, true)).toBe('relayed');
    expect(of(`/ip4/10.213.0.1/tcp/4001/ws/p2p/${RELAY}/p2p-circuit/webrtc/p2p/${PEER}`, true)).toBe('relayed');
    expect(of(`/ip4/127.0.0.1/tcp/4001/p2p/${PEER}`)).toBe('direct');
    expect(of(`/ip4/10.213.0.1/tcp/4001/ws/p2p/${RELAY}`)).toBe('direct');
    // A DNS name that is or contains "webrtc" is not a WebRTC link.
    expect(of(`/dns4/webrtc.example.org/tcp/443/wss/p2p/${PEER}`)).toBe('direct');
    expect(of(`/dns4/webrtc/tcp/443/wss/p2p/${PEER}`)).toBe('direct');
  });
});
