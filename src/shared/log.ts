import { appendFileSync } from 'node:fs';

/**
 * The gateway's diagnostic log. It never writes to stdout: in `mcpg run` stdout carries MCP.
 * Lines go to stderr, or to `--log-file` when given.
 */
export const LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type Level = (typeof LEVELS)[number];

let threshold = LEVELS.indexOf('info');
let file: string | undefined;

export function configureLog(options: { level?: Level; file?: string }): void {
  if (options.level) threshold = LEVELS.indexOf(options.level);
  file = options.file;
}

function write(level: Level, scope: string, message: string): void {
  if (LEVELS.indexOf(level) < threshold) return;
  const line = `${new Date().toISOString()} ${level.padEnd(5)} [${scope}] ${message}\n`;
  if (file) appendFileSync(file, line);
  else process.stderr.write(line);
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
