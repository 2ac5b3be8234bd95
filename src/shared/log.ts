import { writeSync } from 'node:fs';
import { McpgError, fsReason } from './errors.ts';
import { openAppendOnly } from './files.ts';
import { printableLine } from './terminal.ts';

/**
 * The gateway's diagnostic log. It never writes to stdout: in `mcpg run` stdout carries MCP.
 * Lines go to stderr, or to `--log-file` when given.
 */
export const LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type Level = (typeof LEVELS)[number];

let threshold = LEVELS.indexOf('info');
let sink: { fd: number; file: string } | undefined;
let writer: ((line: string) => void) | undefined;
let written = 0;

/** How many lines this process has logged (for a command that keeps only what passed quietly). */
export function linesLogged(): number {
  return written;
}

/**
 * A log file that cannot be opened is the user's error, reported before anything runs.
 * `writer` takes every line instead (tests running the gateway in process).
 */
export function configureLog(options: { level?: Level; file?: string; writer?: (line: string) => void }): void {
  if (options.level) threshold = LEVELS.indexOf(options.level);
  writer = options.writer;
  if (!options.file) return;
  try {
    sink = { fd: openAppendOnly(options.file), file: options.file };
  } catch (err) {
    throw new McpgError('FILE_ACCESS', `cannot open the log file ${options.file}: ${fsReason(err)}`);
  }
}

/** Whether a line at `level` would be written (what it says need not be made when not). */
export function logs(level: Level): boolean {
  return LEVELS.indexOf(level) >= threshold;
}

function write(level: Level, scope: string, message: string): void {
  if (!logs(level)) return;
  written++;
  // One line each, whatever the message holds: a server's stderr cannot forge or rewrite lines.
  const line = `${new Date().toISOString()} ${level.padEnd(5)} [${printableLine(scope)}] ${printableLine(message)}\n`;
  if (writer) return writer(line);
  if (sink) {
    try {
      writeSync(sink.fd, line);
      return;
    } catch (err) {
      // Diagnostics must never take the gateway down: say so once, then use stderr.
      process.stderr.write(`mcpg: the log file ${sink.file} could not be written (${fsReason(err)}); logging to stderr\n`);
      sink = undefined;
    }
  }
  process.stderr.write(line);
}

export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export function logger(scope: string): Logger {
  return {
    debug: (m) => write('debug', scope, m),
    info: (m) => write('info', scope, m),
    warn: (m) => write('warn', scope, m),
    error: (m) => write('error', scope, m),
  };
}
