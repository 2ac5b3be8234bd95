import { VERSION } from './shared/version.ts';

const argv = process.argv.slice(2);
// `mcpg --version` answers before the CLI and its dependencies load (agents and CI run it often).
if (argv.length === 1 && argv[0] === '--version') process.stdout.write(`${VERSION}\n`);
else void import('./cli/index.ts').then((cli) => cli.main(argv));
