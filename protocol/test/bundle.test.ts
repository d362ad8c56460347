// A production bundle of the protocol package (Vite, tree-shaken, minified) must still know every
// compressor and method: registries are literal tables, not import-time registrations that a
// `"sideEffects": false` package lets a bundler drop. The bundle is built from an entry that
// imports only the package root, and runs a MARINA + PermK manifest to its target.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'vite';
import { afterAll, describe, expect, it } from 'vitest';

// Inside the workspace, so that `@masha/protocol` resolves as an installed package would (its
// package.json, `exports` and `sideEffects`), not through an alias.
const scratch = fileURLToPath(new URL('../.tmp-bundle/', import.meta.url));
mkdirSync(scratch, { recursive: true });
const dir = mkdtempSync(join(scratch, 'run-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Runs MARINA + PermK for 2,000 iterations; the same source is run unbundled for comparison. */
const RUN = `
function runMarina(P) {
  const manifest = P.parseManifest({
    problem: { kind: 'quadratic', d: 40, n: 8, s: 0.1, seed: 2 },
    method: { name: 'marina' },
    compressors: { device: 'permk' },
    stop: { iterations: 2000 },
    seed: 3,
  });
  const run = P.runFromManifest(manifest);
  const result = P.runReference({ problem: run.problem, method: run.method, iterations: manifest.stop.iterations });
  return {
    compressors: P.compressorNames(),
    methods: P.methodNames(),
    method: run.method.name,
    device: run.device.spec,
    first: result.records[0].opNormSq,
    last: result.records[result.records.length - 1].opNormSq,
    uplinkBits: result.uplinkBits,
  };
}`;
const ENTRY = `
import * as P from '@masha/protocol';
${RUN}
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
    const mod = (await import(pathToFileURL(join(dir, 'dist', file as string)).href)) as { run: () => Record<string, unknown> };
    const r = mod.run();
    expect(r.compressors).toContain('permk');
    expect(r.methods).toContain('marina');
    expect(r.method).toBe('marina');
    expect(r.device).toBe('permk');
    // It converges, and to the same bits as the unbundled package.
    expect(r.last as number).toBeLessThan(1e-2 * (r.first as number));
    const unbundled = new Function('P', `${RUN}; return runMarina(P);`)(await import('../src/index.js')) as Record<string, unknown>;
    expect(r).toEqual(unbundled);
  });
});
