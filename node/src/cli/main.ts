/** Entry point of the `masha` binary (node/bin/masha.js imports the built copy). */
import { installNativeSha256 } from '../peer/native-sha256.js';
import { EXIT } from './errors.js';
import { startedByNpm, watchParent } from './parent-watch.js';
import { runCli } from './program.js';

// Replica digests, commit and frame hashes in node:crypto rather than JavaScript.
installNativeSha256();

// Children of `npm start` and of the tests (launcher/processes.ts) exit when their parent dies,
// even by SIGKILL: the parent holds the other end of our stdin pipe.
if (process.env.MASHA_DIE_WITH_PARENT === '1' && !process.stdin.isTTY) {
  const die = (): never => process.exit(EXIT.interrupted);
  process.stdin.on('end', die);
  process.stdin.on('close', die);
  process.stdin.on('error', die);
  process.stdin.resume();
}

// Under npm (`npx masha …`), the npm wrapper going away — killed by its PID — stops us like SIGHUP.
if (startedByNpm()) watchParent(() => process.kill(process.pid, 'SIGHUP'));

const code = await runCli(process.argv.slice(2));
// libp2p can leave sockets and timers behind after stop(): do not wait for them.
process.exit(code);
