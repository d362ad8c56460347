/**
 * The volunteer page's production build (browser/dist, made by `npm ci` → turbo build): it
 * exists, its HTML loads the main chunk, the engine worker is a separate chunk, and nothing in it
 * comes from Node (`node:` modules, or Vite's stub for a Node built-in); its size stays in budget
 * (the gzipped sizes are printed).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';

const DIST = fileURLToPath(new URL('../../browser/dist/', import.meta.url));

describe('the volunteer page build', () => {
  const files = readdirSync(join(DIST, 'assets')).filter((f) => f.endsWith('.js'));
  const read = (f: string): string => readFileSync(join(DIST, 'assets', f), 'utf8');
  const html = readFileSync(join(DIST, 'index.html'), 'utf8');
  const main = /<script type="module" crossorigin src="\.\/assets\/(index-[\w-]+\.js)"><\/script>/.exec(html)?.[1];
  // The chunks of this build: the main chunk and every chunk it names, transitively (hashed names,
  // so no false match). A turbo cache restore can leave an earlier build's chunks next to them.
  const js: string[] = [];
  if (main !== undefined && files.includes(main)) {
    js.push(main);
    for (let i = 0; i < js.length; i++) {
      const code = read(js[i]);
      for (const f of files) if (!js.includes(f) && code.includes(f)) js.push(f);
    }
  }

  it('has the page, its main chunk and the engine worker as separate files', () => {
    expect(main).toBeDefined();
    expect(files).toContain(main);
    // The main chunk starts the worker by its file name, as a module worker.
    const worker = js.find((f) => f.startsWith('worker-'));
    expect(worker).toBeDefined();
    expect(read(main!)).toContain(worker!);
  });

  it('imports nothing from Node', () => {
    expect(js.length).toBeGreaterThan(1);
    for (const f of js) {
      const code = read(f);
      expect(code.match(/["'`]node:[a-z_/]+["'`]/g) ?? [], f).toEqual([]);
      expect(code.includes('__vite-browser-external'), f).toBe(false);
    }
  });

  it('stays within its size budget (gzipped: main 300 KiB — libp2p is most of it —, worker 150 KiB)', () => {
    const rows = js.map((f) => {
      const bytes = readFileSync(join(DIST, 'assets', f));
      return { file: f, bytes: bytes.byteLength, gzip: gzipSync(bytes, { level: 9 }).byteLength };
    });
    console.log(`volunteer page JavaScript (bytes, gzipped): ${rows.map((r) => `${r.file} ${r.bytes} (${r.gzip})`).join(', ')}`);
    const gz = (prefix: string): number => rows.filter((r) => r.file.startsWith(prefix)).reduce((a, r) => a + r.gzip, 0);
    expect(gz('index-')).toBeGreaterThan(0);
    expect(gz('index-')).toBeLessThan(300 * 1024);
    expect(gz('worker-')).toBeGreaterThan(0);
    expect(gz('worker-')).toBeLessThan(150 * 1024);
  });
});
