import { printable } from '../shared/terminal.ts';

/**
 * Results of commands go to stdout through here; `mcpg run` never uses it (stdout is MCP there).
 * What they print comes from configs, servers and audit logs: control characters are escaped.
 */
export function out(text: string): void {
  const safe = printable(text);
  process.stdout.write(safe.endsWith('\n') ? safe : `${safe}\n`);
}

/** A diagnostic line of a command (a warning, a problem found, a login step), to stderr, escaped. */
export function note(text: string): void {
  process.stderr.write(`${printable(text)}\n`);
}
