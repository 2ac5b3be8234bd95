import { main } from './cli/index.ts';

void main(process.argv.slice(2));
