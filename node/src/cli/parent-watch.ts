/**
 * Dying with the parent when npm started us. `npm start` and `npx masha …` run their command
 * through `sh -c`, and a SIGTERM sent to npm reaches that shell, not us: the shell dies and we would
 * live on, re-parented. So a process started by npm watches its parent process id and, when it
 * changes (the parent is gone), stops as on SIGHUP. Processes started otherwise (`nohup masha relay
 * &`, a service manager) are left alone: outliving a shell is what they are for.
 */

/** npm sets these in the environment of every script and `npx` command it runs. */
export function startedByNpm(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.npm_lifecycle_event !== undefined || env.npm_command !== undefined;
}

/** Calls `onGone` once when this process's parent changes; returns a function that stops watching. */
export function watchParent(onGone: () => void, intervalMs = 500): () => void {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    onGone();
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
