import { answeredVersion } from './shared/version.ts';

const argv = process.argv.slice(2);
if (!answeredVersion(argv)) void import('./cli/index.ts').then((cli) => cli.main(argv));
