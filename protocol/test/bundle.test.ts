// A production bundle of the protocol package (Vite, tree-shaken, minified) must still know every
// compressor and method: registries are literal tables, not import-time registrations that a
// `"sideEffects": false` package lets a bundler drop. The bundle is built from an entry that
// imports only the package root, and runs a MARINA + PermK manifest to its target.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'vite';
import { afterAll, describe, expect, it } from 'vitest';
import { runMarina } from './bundle-run.js';

// Inside the workspace, so that `@masha/protocol` resolves as an installed package would (its
// package.json, `exports` and `sideEffects`), not through an alias.
const scratch = fileURLToPath(new URL('../.tmp-bundle/', import.meta.url));
mkdirSync(scratch, { recursive: true });
const dir = mkdtempSync(join(scratch, 'run-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const ENTRY = `
import * as P from '@masha/protocol';
import { runMarina } from ${JSON.stringify(fileURLToPath(new URL('./bundle-run.ts', import.meta.url)))};
export function run() { return runMarina(P); }
`;

describe('Vite production bundle of @masha/protocol', () => {
  it('keeps permk and marina, and runs a MARINA + PermK manifest from the bundle', async () => {
    writeFileSync(join(dir, 'entry.js'), ENTRY);
    await build({
      root: dir,
      logLevel: 'silent',
      mode: 'production',
      configFile: false,
      resolve: { conditions: ['development', 'module', 'import', 'default'] },
      build: {
        outDir: join(dir, 'dist'),
        minify: true,
        lib: { entry: join(dir, 'entry.js'), formats: ['es'], fileName: 'bundle' },
        rollupOptions: { treeshake: true },
      },
    });
    const file = readdirSync(join(dir, 'dist')).find((f) => f.startsWith('bundle'));
    expect(file).toBeDefined();
    const mod = (await import(pathToFileURL(join(dir, 'dist', file as string)).href)) as { run: () => ReturnType<typeof runMarina> };
    const r = mod.run();
    expect(r.compressors).toContain('permk');
    expect(r.methods).toContain('marina');
    expect(r.method).toBe('marina');
    expect(r.device).toBe('permk');
    // It converges, and to the same bits as the unbundled package.
    expect(r.last).toBeLessThan(1e-2 * r.first);
    expect(r).toEqual(runMarina(await import('../src/index.js')));
  });
});
