/**
 * The `masha` CLI's contract with humans and scripts: help everywhere, exit codes, and one-line
 * errors that name the flag or the manifest field; an unreachable relay times out with a message
 * that says so.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/program.js';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) } },
    out: () => out.join(''),
    err: () => err.join(''),
  };
}

const dir = mkdtempSync(join(tmpdir(), 'masha-cli-'));
const RELAY = '/ip4/127.0.0.1/tcp/9/p2p/12D3KooWEch2LCyBuQUHGQUDTm6VfFA8bDKCsdtDmzfcFVJ5zHZR';

describe('masha CLI', () => {
  it('prints help for the program and every command, exit 0', async () => {
    for (const argv of [['--help'], ['relay', '--help'], ['launch', '--help'], ['join', '--help'], ['status', '--help']]) {
      const c = capture();
      expect(await runCli(argv, c.io)).toBe(0);
      expect(c.out()).toMatch(/Usage: masha/);
    }
  });

  it('refuses unknown commands and flags with exit 2', async () => {
    const c = capture();
    expect(await runCli(['launhc'], c.io)).toBe(2);
    expect(c.err()).toMatch(/unknown command/);
    const d = capture();
    expect(await runCli(['join', '--relya', RELAY], d.io)).toBe(2);
    expect(d.err()).toMatch(/unknown option/);
  });

  it('launch: names the manifest field that is wrong (exit 2)', async () => {
    const path = join(dir, 'bad.json');
    writeFileSync(path, JSON.stringify({ problem: { kind: 'bilinear' }, method: { name: 'masha1' }, network: { heartbeatMs: 500, leaseMs: 600 } }));
    const c = capture();
    expect(await runCli(['launch', '--manifest', path, '--relay', RELAY], c.io)).toBe(2);
    expect(c.err()).toMatch(/^masha launch: error: manifest .*bad\.json: network\.leaseMs: must be at least twice heartbeatMs/m);
    const typo = join(dir, 'typo.json');
    writeFileSync(typo, JSON.stringify({ problem: { kind: 'bilinear', dd: 3 }, method: { name: 'masha1' } }));
    const d = capture();
    expect(await runCli(['launch', '--manifest', typo, '--relay', RELAY], d.io)).toBe(2);
    expect(d.err()).toMatch(/problem/);
    const e = capture();
    expect(await runCli(['launch', '--manifest', join(dir, 'missing.json'), '--relay', RELAY], e.io)).toBe(2);
    expect(e.err()).toMatch(/manifest: cannot read .*missing\.json/);
    const f = capture();
    writeFileSync(join(dir, 'notjson.json'), '{ nope');
    expect(await runCli(['launch', '--manifest', join(dir, 'notjson.json'), '--relay', RELAY], f.io)).toBe(2);
    expect(f.err()).toMatch(/is not valid JSON/);
  });

  it('launch and join need a relay; join refuses a malformed run id (exit 2)', async () => {
    const path = join(dir, 'ok.json');
    writeFileSync(path, JSON.stringify({ problem: { kind: 'bilinear' }, method: { name: 'masha1' } }));
    const c = capture();
    expect(await runCli(['launch', '--manifest', path], c.io)).toBe(2);
    expect(c.err()).toMatch(/--relay: at least one relay address is required/);
    const d = capture();
    expect(await runCli(['join', '--relay', RELAY, '--run', 'not-a-run-id'], d.io)).toBe(2);
    expect(d.err()).toMatch(/--run: a run id is 64 lower-case hex digits/);
    const e = capture();
    expect(await runCli(['status', '--relay', 'not-a-multiaddr', '--json'], e.io)).toBe(2);
    expect(e.err()).toMatch(/not a multiaddr/);
  });

  it('join: an unreachable relay times out with a clear message (exit 3)', async () => {
    const c = capture();
    const t0 = Date.now();
    expect(await runCli(['join', '--relay', RELAY, '--connect-timeout', '1'], c.io)).toBe(3);
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(c.err()).toMatch(/masha join: error: could not reach any relay within 1000 ms/);
  });
});
