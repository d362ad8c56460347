import { fstatSync, realpathSync } from 'node:fs';

/**
 * The file this process's stdout is redirected to (`masha-sim manifest init > dir/RUN.json`), or
 * null when stdout is a terminal, a pipe, or the system cannot tell (Linux names it in /proc).
 */
export function stdoutFile(): string | null {
  try {
    if (!fstatSync(1).isFile()) return null;
    return realpathSync('/proc/self/fd/1');
  } catch {
    return null;
  }
}
