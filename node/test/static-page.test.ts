/** The relay's static file server for the volunteer page (cli/static-page.ts) and the URL it prints. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { volunteerUrl } from '../src/cli/commands/relay.js';
import { defaultPageDir, pageBuilt, staticFile } from '../src/cli/static-page.js';

describe('serving the volunteer page', () => {
  const root = mkdtempSync(join(tmpdir(), 'masha-page-'));
  const dir = join(root, 'dist');
  mkdirSync(join(dir, 'assets'), { recursive: true });
  writeFileSync(join(dir, 'index.html'), '<!doctype html><title>page</title>');
  writeFileSync(join(dir, 'assets', 'app-1.js'), 'export {}');
  writeFileSync(join(root, 'secret.txt'), 'not served');
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('serves index.html at / and files under the directory with their types', () => {
    expect(pageBuilt(dir)).toBe(true);
    const index = staticFile(dir, '/');
    expect(index?.type).toBe('text/html; charset=utf-8');
    expect(index?.body.toString()).toBe('<!doctype html><title>page</title>');
    expect(staticFile(dir, '/assets/app-1.js')?.type).toBe('text/javascript; charset=utf-8');
    expect(staticFile(dir, '/assets/app-1.js')?.body.byteLength).toBe(9);
  });

  it('serves nothing outside the directory, no directories and no missing files', () => {
    for (const p of ['/../secret.txt', '/assets/../../secret.txt', '/%2e%2e/secret.txt', '/..%2fsecret.txt', '/assets', '/missing.js', '/%zz', '/a\0b']) {
      expect(staticFile(dir, p), p).toBeNull();
    }
  });

  it('finds the built page of this checkout and prints loopback for a wildcard host', () => {
    expect(defaultPageDir().replace(/\\/g, '/')).toMatch(/\/browser\/dist\/$/);
    expect(volunteerUrl('0.0.0.0', 8080)).toBe('http://127.0.0.1:8080/');
    expect(volunteerUrl('10.1.2.3', 80)).toBe('http://10.1.2.3:80/');
    expect(volunteerUrl('::1', 8080)).toBe('http://[::1]:8080/');
  });
});
