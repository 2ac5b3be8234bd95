import pkg from '../../package.json' with { type: 'json' };

export const VERSION: string = pkg.version;
/** How mcpg names itself to servers (clientInfo) and to agents (serverInfo). */
export const IMPLEMENTATION = { name: 'mcpg', version: VERSION };

/**
 * `mcpg --version` answered before the CLI and its dependencies load (agents and CI run it
 * often): true when it was.
 */
export function answeredVersion(argv: string[]): boolean {
  if (argv.length !== 1 || argv[0] !== '--version') return false;
  process.stdout.write(`${VERSION}\n`);
  return true;
}
