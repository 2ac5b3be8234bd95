import { EXIT, McpgError, fsFault, fsReason } from '../shared/errors.ts';
import { printable, printableLine } from '../shared/terminal.ts';

/**
 * The one place that turns an error into a message and an exit code, and the only one that
 * exits. User errors print one line; only unexpected ones print a stack (they are bugs).
 */
export function exitWith(err: unknown): never {
  if (err instanceof McpgError) {
    process.stderr.write(`mcpg: ${printable(err.message)}\n`);
    process.exit(err.exitCode);
  }
  // A file-system fault that no command wrapped is still the user's to fix, not a bug.
  const path = err instanceof Error ? (err as { path?: unknown }).path : undefined;
  if (fsFault(err) && typeof path === 'string') {
    process.stderr.write(`mcpg: cannot use ${printableLine(path)}: ${fsReason(err)}\n`);
    process.exit(EXIT.config);
  }
  process.stderr.write(`mcpg: internal error (please report it): ${printable(err instanceof Error ? (err.stack ?? err.message) : String(err))}\n`);
  process.exit(EXIT.internal);
}

export function exitWithCode(code: number = EXIT.ok): never {
  process.exit(code);
}
