/** Entry point of the `masha-sim` binary (sim/bin/masha-sim.js imports the built copy). */
import { runCli } from './program.js';

process.exitCode = await runCli(process.argv.slice(2));
