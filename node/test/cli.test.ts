/**
 * The `masha` CLI's contract with humans and scripts: help everywhere, exit codes, and one-line
 * errors that name the flag or the manifest field; an unreachable relay times out with a message
 * that says so.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runIdOf, parseManifest, tokenFromText, verifyToken } from '@masha/protocol';
import { runCli } from '../src/cli/program.js';
import { createStartDir, startStamp } from '../src/launcher/run-dir.js';
import { keyedManifest, loadOrCreateLauncherKey } from '../src/launcher/launcher-key.js';
import { describeDialFailure } from '../src/net/create-node.js';

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

  it('launch: a bad relay address or an unreachable relay writes nothing and leaves an earlier start whole', async () => {
    const manifest = parseManifest({ problem: { kind: 'bilinear' }, method: { name: 'masha1' } });
    const path = join(dir, 'rerun.json');
    writeFileSync(path, JSON.stringify(manifest));
    const runs = join(dir, 'runs-rerun');
    const keyPath = join(dir, 'launcher.key');
    const runId = runIdOf(keyedManifest(manifest, loadOrCreateLauncherKey(keyPath)));
    // The results of an earlier start of the same run.
    const earlier = join(runs, runId, '2026-01-01T00-00-00.000Z');
    mkdirSync(earlier, { recursive: true });
    writeFileSync(join(earlier, 'events.jsonl'), '{"t":1,"ev":"launch"}\n'.repeat(1000));
    writeFileSync(join(earlier, 'summary.json'), '{"reached":true}\n');
    symlinkSync('2026-01-01T00-00-00.000Z', join(runs, runId, 'latest'));
    const before = readFileSync(join(earlier, 'events.jsonl'), 'utf8');

    const bad = capture();
    expect(await runCli(['launch', '--manifest', path, '--key', keyPath, '--relay', 'not-a-multiaddr', '--out', runs], bad.io)).toBe(2);
    expect(bad.err()).toMatch(/^masha launch: error: not a multiaddr/);
    const down = capture();
    expect(await runCli(['launch', '--manifest', path, '--key', keyPath, '--relay', RELAY, '--out', runs, '--connect-timeout', '1'], down.io)).toBe(3);
    expect(down.err()).toMatch(/could not reach any relay/);

    expect(readdirSync(join(runs, runId)).sort()).toEqual(['2026-01-01T00-00-00.000Z', 'latest']);
    expect(readdirSync(earlier).sort()).toEqual(['events.jsonl', 'summary.json']);
    expect(readFileSync(join(earlier, 'events.jsonl'), 'utf8')).toBe(before);
    // A fresh directory: nothing at all.
    const fresh = join(dir, 'runs-fresh');
    expect(await runCli(['launch', '--manifest', path, '--key', keyPath, '--relay', 'not-a-multiaddr', '--out', fresh], capture().io)).toBe(2);
    expect(existsSync(fresh)).toBe(false);
  });

  it('token: a launcher-signed join token for the run its key publishes', async () => {
    const manifest = parseManifest({ problem: { kind: 'bilinear' }, method: { name: 'masha1' }, admission: { policy: 'open' } });
    const path = join(dir, 'token-run.json');
    writeFileSync(path, JSON.stringify(manifest));
    const keyPath = join(dir, 'token-launcher.key');
    const c = capture();
    expect(await runCli(['token', '--manifest', path, '--key', keyPath, '--ttl', '60', '--json'], c.io)).toBe(0);
    const out = JSON.parse(c.out()) as { runId: string; token: string; expiresAt: number };
    const key = loadOrCreateLauncherKey(keyPath);
    expect(out.runId).toBe(runIdOf(keyedManifest(manifest, key)));
    const token = tokenFromText(out.token) as Uint8Array;
    expect(verifyToken(Buffer.from(key.publicKey, 'hex'), out.runId, token, Date.now())).toBe(true);
    expect(verifyToken(Buffer.from(key.publicKey, 'hex'), out.runId, token, Date.now() + 120_000)).toBe(false);
  });

  it('launch --dir refuses a directory holding an earlier run; --resume refuses what cannot be resumed (exit 2, nothing written)', async () => {
    const manifestPath = join(dir, 'ok.json');
    writeFileSync(manifestPath, JSON.stringify({ problem: { kind: 'bilinear' }, method: { name: 'masha1' } }));
    const taken = join(dir, 'taken');
    mkdirSync(taken, { recursive: true });
    writeFileSync(join(taken, 'summary.json'), '{}');
    const c = capture();
    expect(await runCli(['launch', '--manifest', manifestPath, '--relay', RELAY, '--dir', taken], c.io)).toBe(2);
    expect(c.err()).toMatch(/--dir: .*taken holds an earlier run's results \(summary\.json\); use --resume .* to continue that run, or another directory/);
    expect(readdirSync(taken)).toEqual(['summary.json']);
    const d = capture();
    expect(await runCli(['launch', '--resume', join(dir, 'nowhere'), '--relay', RELAY], d.io)).toBe(2);
    expect(d.err()).toMatch(/--resume: .*nowhere holds no launch\.json/);
    const e = capture();
    expect(await runCli(['launch', '--resume', taken, '--manifest', manifestPath, '--relay', RELAY], e.io)).toBe(2);
    expect(e.err()).toMatch(/--resume: takes the manifest from the directory it resumes/);
  });

  it('join and launch refuse a problem too large to build, before building it (exit 2)', async () => {
    const big = join(dir, 'big.json');
    writeFileSync(big, JSON.stringify({ problem: { kind: 'bilinear', d: 4096, M: 100_000 }, method: { name: 'masha1' } }));
    // (Building it would need 137 TB: an answer at all shows nothing was built.)
    const c = capture();
    expect(await runCli(['launch', '--manifest', big, '--relay', RELAY], c.io)).toBe(2);
    expect(c.err()).toMatch(
      /^masha launch: error: problem: building this bilinear game, d = 4096, M = 100000 needs an estimated 12 TiB and 1988 days; this peer allows 2\.0 GiB and 60 s/m,
    );
  });

  it('start directories: one per start, `latest` pointing at the newest', () => {
    const runs = join(dir, 'runs-starts');
    const t = Date.UTC(2026, 10, 25, 14, 3, 7, 123);
    expect(startStamp(t)).toBe('2026-11-25T14-03-07.123Z');
    expect(startStamp(Number.MAX_SAFE_INTEGER)).toBe('unknown-start');
    const a = createStartDir(runs, 'r1', t);
    const b = createStartDir(runs, 'r1', t); // the same millisecond: a second directory all the same
    const c = createStartDir(runs, 'r1', t + 1000);
    expect([a, b, c].map((p) => p.slice(join(runs, 'r1').length + 1))).toEqual([
      '2026-11-25T14-03-07.123Z',
      '2026-11-25T14-03-07.123Z-2',
      '2026-11-25T14-03-08.123Z',
    ]);
    expect(readdirSync(join(runs, 'r1')).sort()).toEqual(['2026-11-25T14-03-07.123Z', '2026-11-25T14-03-07.123Z-2', '2026-11-25T14-03-08.123Z', 'latest']);
    writeFileSync(join(c, 'x'), 'newest');
    expect(readFileSync(join(runs, 'r1', 'latest', 'x'), 'utf8')).toBe('newest');
  });

  it('join: a relay address where nothing listens fails with a clear message (exit 3)', async () => {
    const c = capture();
    expect(await runCli(['join', '--relay', RELAY, '--connect-timeout', '1'], c.io)).toBe(3);
    expect(c.err()).toMatch(/masha join: error: could not reach any relay: \/ip4\/127\.0\.0\.1\/tcp\/9\/p2p\/\S+: connection refused/);
  });

  it('dial failures in plain words: another identity and refusals are final, the rest is retried', () => {
    const other = describeDialFailure('/ip4/1.2.3.4/tcp/1/p2p/A', new Error('Payload identity key B does not match expected remote identity key A'));
    expect(other.final).toBe(true);
    expect(other.message).toContain('is now peer B, not the A its address names');
    const refused = describeDialFailure(
      'X',
      new AggregateError([Object.assign(new Error('connect ECONNREFUSED 1.2.3.4:1'), { code: 'ECONNREFUSED' })], 'all dials failed'),
    );
    expect(refused).toEqual({ final: true, message: 'X: connection refused (no relay listens there)' });
    expect(describeDialFailure('X', new Error('The operation was aborted due to timeout')).final).toBe(false);
  });
});
