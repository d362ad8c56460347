/**
 * WebRTC between Node peers (node-datachannel). The scenarios run in a child process (see
 * net-webrtc-child.ts for why); this file checks the facts it reports.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const here = fileURLToPath(new URL('.', import.meta.url));

function runChild(scenario: 'direct' | 'relay' | 'dials', args: readonly string[] = [], timeoutMs = 50_000): Record<string, unknown> {
  const res = spawnSync(
    process.execPath,
    [
      '--experimental-transform-types',
      '--no-warnings',
      '--conditions=development',
      '--import',
      './net-ts-register.mjs',
      './net-webrtc-child.ts',
      scenario,
      ...args,
    ],
    { cwd: here, encoding: 'utf8', timeout: timeoutMs },
  );
  const line = res.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (line === undefined) throw new Error(`child printed no result (status ${res.status}, signal ${res.signal}):\n${res.stderr.slice(-2000)}`);
  if (!res.stdout.includes('\nCLOSED\n')) {
    // The scenario finished; only the native teardown failed (see net-webrtc-child.ts).
    console.warn(`WebRTC child aborted during teardown (status ${res.status}, signal ${res.signal}): ${res.stderr.trim().slice(-300)}`);
  }
  return JSON.parse(line.slice('RESULT '.length)) as Record<string, unknown>;
}

describe('WebRTC transports', () => {
  it('WebRTC-direct: a peer with no listener dials one listening only on webrtc-direct and sends 1 MiB', { timeout: 60_000 }, () => {
    const r = runChild('direct');
    expect(r.error).toBeUndefined();
    expect(r.ok).toBe(true);
    const listen = r.listen as string[];
    expect(listen.length).toBe(1);
    expect(listen[0]).toMatch(/^\/ip4\/127\.0\.0\.1\/udp\/\d+\/webrtc-direct\/certhash\/[\w-]+\/p2p\/\w+$/);
    // The dialling peer listens on nothing except its relay reservation slots (none: no relay).
    expect(r.bListen).toEqual([]);
    expect(r.conns).toEqual(listen);
    expect(r.received).toBe(r.sent);
    expect(r.fromSeen).toEqual([r.sender]);
  });

  // Opt-in (MASHA_TEST_WEBRTC_RELAY=1): Node-to-Node WebRTC over a circuit relay runs on
  // node-datachannel, which still loses about one dial in 25 here after the @libp2p/webrtc
  // dial-race patch (patches/, browser/UPSTREAM-webrtc-dial-race.md): measured 2 of 60 and 2 of 40
  // dials hung with the `init` channel stuck in "connecting" after ICE errors ("Got a remote
  // candidate without ICE transport": candidates that arrive before the remote description) — a
  // different, node-datachannel-side problem (unpatched: 1 of 60 dials, 1 of 8 runs of the relay
  // scenario). Browsers use their own WebRTC stacks, and the dial race they do hit is tested in
  // Chromium (test/test/browser-page.test.ts); these check the Node side by hand.
  it.runIf(process.env.MASHA_TEST_WEBRTC_RELAY === '1')(
    'WebRTC over a circuit relay: two peers known only to the relay connect directly',
    { timeout: 60_000 },
    () => {
      const r = runChild('relay');
      expect(r.error).toBeUndefined();
      expect(r.conn).toMatch(/\/p2p-circuit\/webrtc\/p2p\//);
      expect(r.connLimited).toBe(false);
      // 256 KiB exceeds the relay's 128 KiB data limit: it travelled over the unlimited WebRTC connection.
      const between = r.between as Array<{ addr: string; limited: boolean }>;
      expect(between.filter((c) => !c.limited).every((c) => c.addr.includes('/webrtc/'))).toBe(true);
      expect(r.received).toBe(r.sent);
    },
  );

  it.runIf(process.env.MASHA_TEST_WEBRTC_RELAY === '1')(
    'WebRTC over a circuit relay: 30 dials in a row give direct WebRTC connections',
    { timeout: 120_000 },
    () => {
      const r = runChild('dials', ['30'], 110_000);
      expect(r.error).toBeUndefined();
      expect(r.errors).toEqual([]);
      expect(r.succeeded).toBe(30);
    },
  );
});
