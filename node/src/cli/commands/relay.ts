/**
 * `masha relay`: the bootstrap and circuit-relay-v2 node of a swarm, with TCP and WebSocket
 * listeners. Prints its multiaddrs (one per line, or one JSON object with `--json`) and runs until
 * interrupted. `--http PORT` also serves the volunteer page (browser/dist, `/`; `--page DIR` for
 * another build), the addresses as JSON (`/multiaddrs`, which the page reads to find the relay),
 * a plain page with the addresses (`/relay`) and a health check (`/healthz`), and prints the URL
 * volunteers open (`http` in `--json`). The HTTP server listens on `--host`.
 */
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { defaultDataDir } from '../../model/data.js';
import type { Command } from 'commander';
import { dirname, resolve } from 'node:path';
import { startRelay, type RelayNode } from '../../net/relay.js';
import { DEFAULT_RELAY_KEY_FILE, loadOrCreateRelayKey } from '../../net/relay-key.js';
import { defaultPageDir, pageBuilt, staticFile } from '../static-page.js';
import { collect, EXIT, parsePort } from '../errors.js';
import { interruptSignal, type CliContext } from '../io.js';

export interface RelayFlags {
  listen?: string[];
  host: string;
  tcp: number;
  ws: number;
  http?: number;
  key: string;
  ephemeral?: boolean;
  page?: string;
  json?: boolean;
}

export function configureRelay(cmd: Command): void {
  cmd
    .description('run a relay: bootstrap node and circuit relay v2 (TCP + WebSocket); prints its multiaddrs')
    .option('--listen <multiaddr>', 'listen address (repeatable; overrides --host/--tcp/--ws)', collect)
    .option('--host <ip>', 'interface to listen on (0.0.0.0 for remote peers)', '127.0.0.1')
    .option('--tcp <port>', 'TCP port (0 = any free port)', parsePort, 0)
    .option('--ws <port>', 'WebSocket port (0 = any free port)', parsePort, 0)
    .option('--http <port>', 'also serve the volunteer page and the addresses over HTTP on this port (0 = any free port)', parsePort)
    .option('--page <dir>', 'directory of the volunteer page to serve (default: the built browser/dist)')
    .option(
      '--key <file>',
      "keep the relay's identity (its peer id) in this file, created on first use, so a restart keeps its addresses",
      DEFAULT_RELAY_KEY_FILE,
    )
    .option('--ephemeral', 'a new identity for this run only (no key file)')
    .option('--json', 'print {"peerId", "multiaddrs", "http"} as one JSON line instead of plain addresses')
    .addHelpText(
      'after',
      '\nExample:\n  masha relay --tcp 4001 --ws 4002 --http 8080      # volunteers open http://127.0.0.1:8080/\n  masha join --relay /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW…',
    );
}

const escapeHtml = (t: string): string => t.replace(/&/g, '&amp;').replace(/</g, '&lt;');

function page(relay: RelayNode, missingPage: string | null): string {
  const items = relay.multiaddrs.map((a) => `<li><code>${escapeHtml(a)}</code></li>`).join('');
  const note = missingPage === null ? '' : `<p>The volunteer page is not built (no ${escapeHtml(missingPage)}index.html): run <code>npm run build</code>.</p>`;
  return `<!doctype html><meta charset="utf-8"><title>Masha relay</title><h1>Masha relay</h1>${note}<p>Peer id <code>${relay.peerId}</code></p><ul>${items}</ul><p>Join with <code>masha join --relay ADDR</code>.</p>`;
}

/** node/dist/data (the built datasets: `/data/spam-assassin/…`). */
function dataRoot(): string {
  return dirname(defaultDataDir().replace(/[\\/]$/, ''));
}

/** onnxruntime-web's dist directory (its wasm builds: `/ort/ort-wasm-simd-threaded.{mjs,wasm}`), or null. */
function ortWasmDir(): string | null {
  try {
    return dirname(createRequire(import.meta.url).resolve('onnxruntime-web'));
  } catch {
    return null;
  }
}

function serve(relay: RelayNode, host: string, port: number, pageDir: string): Promise<Server> {
  const server = createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0].replace(/\/{2,}/g, '/');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'content-type': 'text/plain', allow: 'GET, HEAD' }).end('method not allowed\n');
    } else if (url === '/multiaddrs') {
      res
        .writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
        .end(JSON.stringify({ peerId: relay.peerId, multiaddrs: relay.multiaddrs }));
    } else if (url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (url === '/relay' || (url === '/' && !pageBuilt(pageDir))) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page(relay, pageBuilt(pageDir) ? null : pageDir));
    } else if (url.startsWith('/data/') || url.startsWith('/ort/')) {
      // Model runs: the dataset's token shards and ONNX Runtime's wasm files for browser volunteers.
      const [dir, rest] = url.startsWith('/data/') ? [dataRoot(), url.slice('/data'.length)] : [ortWasmDir(), url.slice('/ort'.length)];
      const file = dir === null ? null : staticFile(dir, rest);
      if (file === null) res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      else
        res
          .writeHead(file.status, { 'content-type': file.type, 'content-length': file.body.byteLength, 'cache-control': 'max-age=3600' })
          .end(req.method === 'HEAD' ? undefined : file.body);
    } else {
      const file = staticFile(pageDir, url);
      if (file === null) res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      else res.writeHead(file.status, { 'content-type': file.type, 'content-length': file.body.byteLength }).end(req.method === 'HEAD' ? undefined : file.body);
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

/** The URL volunteers open (a wildcard listen address is shown as loopback). */
export function volunteerUrl(host: string, port: number): string {
  const h = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return `http://${h.includes(':') ? `[${h}]` : h}:${port}/`;
}

export async function runRelay(flags: RelayFlags, ctx: CliContext): Promise<number> {
  const { signal, dispose } = interruptSignal();
  const key = flags.ephemeral ? null : await loadOrCreateRelayKey(resolve(ctx.cwd, flags.key));
  const relay = await startRelay({
    ...(flags.listen !== undefined && flags.listen.length > 0 ? { listen: flags.listen } : { host: flags.host, ports: { tcp: flags.tcp, ws: flags.ws } }),
    ...(key !== null ? { privateKey: key.privateKey } : {}),
  });
  if (key !== null) {
    ctx.stderr.write(`masha relay: peer id ${key.peerId} (${key.created ? 'new key written to' : 'key from'} ${resolve(ctx.cwd, flags.key)})\n`);
  }
  let server: Server | null = null;
  try {
    const pageDir = flags.page ?? defaultPageDir();
    if (flags.http !== undefined) server = await serve(relay, flags.host, flags.http, pageDir);
    const httpPort = server !== null ? (server.address() as { port: number }).port : null;
    const url = httpPort === null ? null : volunteerUrl(flags.host, httpPort);
    if (flags.json) {
      ctx.stdout.write(`${JSON.stringify({ peerId: relay.peerId, multiaddrs: relay.multiaddrs, http: url })}\n`);
    } else {
      for (const a of relay.multiaddrs) ctx.stdout.write(`${a}\n`);
      if (url !== null) {
        ctx.stderr.write(`masha relay: volunteers open ${url}${pageBuilt(pageDir) ? '' : ` (the page is not built: no ${pageDir}index.html)`}\n`);
      }
      ctx.stderr.write('masha relay: running (Ctrl-C to stop)\n');
    }
    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      else signal.addEventListener('abort', () => resolve(), { once: true });
    });
    return EXIT.ok;
  } finally {
    dispose();
    server?.close();
    await relay.stop().catch(() => {});
  }
}
