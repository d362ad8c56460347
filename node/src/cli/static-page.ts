/**
 * Serving the volunteer page (the Vite build in browser/dist) from `masha relay --http`: static
 * files under one directory, GET/HEAD only, no directory listings, no path outside the directory
 * (the URL path is normalised and must stay under the root), and `/` → index.html. The page asks
 * the same server for the relay's addresses (`/multiaddrs`), so it needs no configuration.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json',
};

/** browser/dist of this checkout (node/{src,dist}/cli/ → ../../../browser/dist). */
export function defaultPageDir(): string {
  return fileURLToPath(new URL('../../../browser/dist/', import.meta.url));
}

export interface StaticFile {
  readonly status: number;
  readonly type: string;
  readonly body: Buffer;
}

/** Whether `dir` holds a built page. */
export function pageBuilt(dir: string): boolean {
  return existsSync(join(dir, 'index.html'));
}

/** The file for a URL path, or null when there is none (→ 404). */
export function staticFile(dir: string, urlPath: string): StaticFile | null {
  let path: string;
  try {
    path = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (path.includes('\0')) return null;
  if (path === '/' || path === '') path = '/index.html';
  const root = resolve(dir);
  const file = resolve(root, `.${normalize(path)}`);
  if (file !== root && !file.startsWith(root + sep)) return null;
  let st;
  try {
    st = statSync(file);
  } catch {
    return null;
  }
  if (!st.isFile()) return null;
  return { status: 200, type: TYPES[extname(file)] ?? 'application/octet-stream', body: readFileSync(file) };
}
