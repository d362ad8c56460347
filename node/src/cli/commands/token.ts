/**
 * `masha token --manifest RUN.json [--key FILE] [--ttl SECONDS]`: a join token for the run that this
 * launcher key publishes — signed by the key, valid for `--ttl` seconds — for runs whose manifest
 * admits only token holders (`"admission": { "policy": "tokens" }`). Volunteers pass it with
 * `masha join --token T` or `?token=T` in the volunteer page's URL.
 */
import type { Command } from 'commander';
import { runIdOf } from '@masha/protocol';
import { signToken, tokenToText } from '@masha/protocol/trust';
import { keyedManifest, loadOrCreateLauncherKey } from '../../launcher/launcher-key.js';
import { parseSeconds } from '../errors.js';
import type { CliContext } from '../io.js';
import { loadManifestFile } from '../manifest-file.js';

export interface TokenFlags {
  manifest: string;
  key: string;
  ttl: number;
  json?: boolean;
}

export function configureToken(cmd: Command): void {
  cmd
    .description("print a join token for a run (signed by the launcher's key), for runs that admit only token holders")
    .requiredOption('--manifest <file>', 'run manifest (the run the token admits to)')
    .option('--key <file>', "the launcher's key file", '.masha/launcher.key')
    .option('--ttl <seconds>', 'how long the token is valid', parseSeconds, 24 * 3600)
    .option('--json', 'print { runId, token, expiresAt } as JSON');
}

export function runToken(flags: TokenFlags, ctx: CliContext): Promise<number> {
  const { manifest } = loadManifestFile(flags.manifest);
  const key = loadOrCreateLauncherKey(flags.key);
  const runId = runIdOf(keyedManifest(manifest, key));
  const expiresAt = Date.now() + Math.round(flags.ttl * 1000);
  const token = tokenToText(signToken(key.secretKey, runId, expiresAt));
  if (flags.json) ctx.stdout.write(`${JSON.stringify({ runId, token, expiresAt })}\n`);
  else ctx.stdout.write(`${token}\n`);
  if (key.created) ctx.stderr.write(`masha token: created the launcher key ${key.path}\n`);
  ctx.stderr.write(
    `masha token: run ${runId}, valid until ${new Date(expiresAt).toISOString()} (masha join --token …, or ?token=… in the volunteer page's URL)\n`,
  );
  return Promise.resolve(0);
}
