/**
 * The relay keeps its identity across restarts (`masha relay --key FILE`), so the addresses handed
 * to volunteers keep working; a relay that answers with another identity is named in plain words;
 * an address where nothing listens fails at once instead of after the connect timeout. Real `masha`
 * processes on loopback, each stopped by PID.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ProcessGroup, type ManagedChild } from '@masha/node';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

interface Run {
  readonly child: ManagedChild;
  stdout: string;
  stderr: string;
}

function run(group: ProcessGroup, args: readonly string[]): Run {
  const child = group.spawnMasha(args[0] ?? 'masha', args, { stdout: 'pipe', stderr: 'pipe' });
  const r: Run = { child, stdout: '', stderr: '' };
  child.process.stdout?.on('data', (b: Buffer) => {
    r.stdout += b.toString();
  });
  child.process.stderr?.on('data', (b: Buffer) => {
    r.stderr += b.toString();
  });
  return r;
}

async function relayOn(group: ProcessGroup, port: number, key: string): Promise<{ relay: Run; peerId: string; addr: string }> {
  const relay = run(group, ['relay', '--json', '--tcp', String(port), '--key', key]);
  const deadline = Date.now() + 60_000;
  while (!relay.stdout.includes('\n')) {
    if (!relay.child.alive) throw new Error(`relay exited: ${relay.stderr}`);
    if (Date.now() > deadline) throw new Error(`no relay addresses; stderr: ${relay.stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const j = JSON.parse(relay.stdout.split('\n')[0]) as { peerId: string; multiaddrs: string[] };
  const addr = j.multiaddrs.find((a) => a.includes(`/tcp/${port}/p2p/`)) as string;
  return { relay, peerId: j.peerId, addr };
}

describe('relay identity', () => {
  const group = new ProcessGroup();
  const dir = mkdtempSync(join(tmpdir(), 'masha-relay-key-'));
  afterEach(async () => {
    await group.stopAll(2_000);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a restarted relay keeps its peer id; another key on that port is named in plain words', async () => {
    const port = await freePort();
    const keyA = join(dir, 'a.key');
    const first = await relayOn(group, port, keyA);
    expect(first.relay.stderr).toContain(`peer id ${first.peerId} (new key written to ${keyA})`);
    first.relay.child.signal('SIGTERM');
    expect((await first.relay.child.exited).code).toBe(0);

    const again = await relayOn(group, port, keyA);
    expect(again.peerId).toBe(first.peerId);
    expect(again.addr).toBe(first.addr);
    expect(again.relay.stderr).toContain(`peer id ${first.peerId} (key from ${keyA})`);
    again.relay.child.signal('SIGTERM');
    await again.relay.child.exited;

    const other = await relayOn(group, port, join(dir, 'b.key'));
    expect(other.peerId).not.toBe(first.peerId);
    // A volunteer with the old address: told what happened, at once (not after --connect-timeout).
    const join1 = run(group, ['join', '--relay', first.addr, '--connect-timeout', '120']);
    const exit = await join1.child.exited;
    expect(exit.code).toBe(3);
    expect(join1.stderr).toContain(`is now peer ${other.peerId}, not the ${first.peerId} its address names`);
    expect(join1.stderr).toContain('--key FILE');
  }, 90_000);

  it('an address where nothing listens fails at once; a damaged key file is a usage error', async () => {
    const port = await freePort();
    const addr = `/ip4/127.0.0.1/tcp/${port}/p2p/12D3KooWEch2LCyBuQUHGQUDTm6VfFA8bDKCsdtDmzfcFVJ5zHZR`;
    const j = run(group, ['join', '--relay', addr, '--connect-timeout', '120']);
    expect((await j.child.exited).code).toBe(3);
    expect(j.stderr).toMatch(/could not reach any relay: .*connection refused \(no relay listens there\)/);

    const bad = join(dir, 'bad.key');
    writeFileSync(bad, '{"type":"Ed25519","peerId":"x","privateKey":"!!"}');
    const r = run(group, ['relay', '--key', bad]);
    expect((await r.child.exited).code).toBe(2);
    expect(r.stderr).toMatch(/^masha relay: error: .*bad\.key is not a relay key file/);
  }, 90_000);
});
