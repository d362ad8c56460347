/**
 * The volunteer page's build. `npm ci` builds it (turbo `build`, after @masha/protocol and
 * @masha/node) into `browser/dist`, which `masha relay --http PORT` serves.
 *
 * The page must not depend on Node: the plugin below fails the build on any `node:` import (or a
 * bare Node built-in) instead of letting Vite stub it out with a warning — the browser-safe
 * networking comes from `@masha/node/swarm-net`, which imports nothing Node-only.
 */
import { builtinModules } from 'node:module';
import { defineConfig, type Plugin } from 'vite';

const NODE_BUILTINS = new Set(builtinModules);

function noNodeImports(): Plugin {
  return {
    name: 'masha-no-node-imports',
    enforce: 'pre',
    resolveId(source, importer) {
      if (source.startsWith('node:') || NODE_BUILTINS.has(source)) {
        this.error(`the page must not import the Node module "${source}" (imported by ${importer ?? 'an entry'})`);
      }
      return null;
    },
  };
}

export default defineConfig({
  base: './',
  plugins: [noNodeImports()],
  worker: { format: 'es', plugins: () => [noNodeImports()] },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2023',
    reportCompressedSize: true,
    chunkSizeWarningLimit: 1024,
  },
});
