// Process entry of the `neuron-lens` command (bundled as dist/cli.js).
import { main } from './main';

main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
