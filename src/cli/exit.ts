import { EXIT, McpgError } from '../shared/errors.ts';

/**
 * The one place that turns an error into a message and an exit code, and the only one that
 * exits. User errors print one line; only unexpected ones print a stack (they are bugs).
 */
export function exitWith(err: unknown): never {
  if (err instanceof McpgError) {
    process.stderr.write(`mcpg: ${err.message}\n`);
    process.exit(err.exitCode);
  }
  process.stderr.write(`mcpg: internal error (please report it): ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(EXIT.internal);
}

export function exitWithCode(code: number = EXIT.ok): never {
  process.exit(code);
}
