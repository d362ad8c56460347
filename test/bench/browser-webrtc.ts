/**
 * `npm run bench` (scripts/bench.mjs runs this file): tab-to-tab WebRTC throughput of the
 * volunteer page. Two Chromium tabs in a network namespace (test/test/browser/session.ts) link
 * directly over WebRTC (a `/p2p-circuit/webrtc` dial through the relay), and one sends a 1 MiB
 * message to the other over the uplink protocol (`/masha/uplink/1.0.0`, length-prefixed frames)
 * in 16 KiB and in 64 KiB frames; time = from the first write in the sending tab to the last
 * byte's arrival in the receiving tab (epoch clocks of one machine). Baseline, same run, same
 * chunk size: 1 MiB through a plain RTCDataChannel between two RTCPeerConnections of one page (no
 * libp2p). Median of 7 transfers after one warm-up. Rows: `{ name, value (MB/s), unit, baseline,
 * baselineName, ratio }`. Filters (argv) select rows by name; without Chromium or network
 * namespaces (not root) it prints no rows and says why on stderr.
 */
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { browserTestsUnavailable } from '../test/browser/chromium.js';
import { debugReady, dial, rawDataChannel, received, sendFrames, waitReceived, webrtcAddress } from '../test/browser/page-helpers.js';
import { startBrowserSession } from '../test/browser/session.js';

interface Row {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  readonly baseline: number | null;
  readonly baselineName: string | null;
  readonly ratio: number | null;
}

const MESSAGE = 1 << 20;
const REPS = 7;
const FRAMES = [16 * 1024, 64 * 1024];

const filters = process.argv.slice(2);
const include = (name: string): boolean => filters.length === 0 || filters.some((f) => name.includes(f));
const rowName = (frame: number): string => `browser/webrtc tab→tab 1 MiB in ${frame / 1024} KiB frames`;
const say = (t: string): void => void process.stderr.write(`bench browser: ${t}\n`);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function main(): Promise<Row[]> {
  const wanted = FRAMES.filter((f) => include(rowName(f)));
  if (wanted.length === 0) return [];
  const why = browserTestsUnavailable();
  if (why !== null) {
    say(`skipped: ${why}`);
    return [];
  }
  const session = await startBrowserSession(join(tmpdir(), `masha-bench-browser-${process.pid}`));
  try {
    const a = await session.openPage('debug=1&discovery=0');
    const b = await session.openPage('debug=1&discovery=0');
    await debugReady(a);
    const idB = await debugReady(b);
    const d = await dial(a, await webrtcAddress(b), 15_000);
    if (!d.ok || d.limited) throw new Error(`the tabs did not link over WebRTC: ${JSON.stringify(d)}`);
    const rows: Row[] = [];
    for (const frame of wanted) {
      const libp2pMs: number[] = [];
      const rawMs: number[] = [];
      for (let i = 0; i <= REPS; i++) {
        const before = (await received(b)).bytes;
        const arrived = waitReceived(b, before + MESSAGE, 60_000);
        const { startedAt } = await sendFrames(a, idB, MESSAGE, frame);
        const ms = (await arrived) - startedAt;
        const raw = await rawDataChannel(a, MESSAGE, frame);
        if (i > 0) {
          libp2pMs.push(ms);
          rawMs.push(raw);
        }
      }
      const mbps = (ms: number): number => MESSAGE / 1e6 / (ms / 1000);
      const value = mbps(median(libp2pMs));
      const baseline = mbps(median(rawMs));
      say(
        `${frame / 1024} KiB frames: libp2p ${libp2pMs.map((x) => x.toFixed(0)).join(' ')} ms; raw RTCDataChannel ${rawMs.map((x) => x.toFixed(0)).join(' ')} ms`,
      );
      rows.push({
        name: rowName(frame),
        value: Number(value.toFixed(2)),
        unit: 'MB/s',
        baseline: Number(baseline.toFixed(2)),
        baselineName: `plain RTCDataChannel in one page, 1 MiB in ${frame / 1024} KiB messages`,
        ratio: Number((value / baseline).toFixed(3)),
      });
    }
    return rows;
  } finally {
    await session.stop();
  }
}

try {
  const results = await main();
  process.stdout.write(`${JSON.stringify({ results }, null, 2)}\n`);
  process.exit(0);
} catch (err) {
  process.stderr.write(`bench browser failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
}
