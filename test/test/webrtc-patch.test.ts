/**
 * The @libp2p/webrtc dial-race patch (patches/@libp2p+webrtc+6.0.33.patch, applied by
 * patch-package on every `npm ci`) is in the installed package: the dialer waits for the `init`
 * channel's `open` event only while the channel is `connecting` (stopping at `close` too), closes
 * it only when open, and waits for `close` only when not already closed. Without the patch about
 * one private-to-private dial in 17 (Chromium, this machine) hangs until its timeout; the
 * behavioural test is the dial-race test of browser-page.test.ts. This one fails fast when the
 * install skipped the patch or the package moved to a version the patch was not written for.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';

const require = createRequire(import.meta.url);

function packageDir(): string {
  // The package's exports hide package.json; find it from the resolved entry point.
  let dir = dirname(require.resolve('@libp2p/webrtc'));
  while (!dir.endsWith(join('@libp2p', 'webrtc'))) dir = dirname(dir);
  return dir;
}

describe('the @libp2p/webrtc dial-race patch', () => {
  const dir = packageDir();
  const version = (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;

  it('is written for the installed version', () => {
    expect(version).toBe('6.0.33');
  });

  it('is applied to the code browsers and Node run', () => {
    const js = readFileSync(join(dir, 'dist/src/private-to-private/initiate-connection.js'), 'utf8');
    const wait = js.indexOf("if (channel.readyState === 'connecting') {");
    expect(wait).toBeGreaterThan(0);
    expect(js.slice(wait, wait + 200)).toContain("await pEvent(channel, ['open', 'close'],");
    expect(js).toContain("if (channel.readyState === 'open') {\n            log.trace('closing init channel');\n            channel.close();");
    expect(js).toContain("if (channel.readyState !== 'closed') {\n            log.trace('waiting for init channel to close');");
    // The unpatched wait (for an `open` that may never come) is gone.
    expect(js).not.toContain("if (channel.readyState !== 'open') {");
  });
});
