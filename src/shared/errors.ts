/**
 * One error class for every failure a user can cause or fix. `code` is a closed set that tests
 * assert on; `exit` groups codes into the documented process exit codes (README, "Exit codes").
 */
export const EXIT = {
  ok: 0,
  internal: 1,
  usage: 2,
  config: 3,
  backend: 4,
  guard: 5,
  supply: 6,
} as const;

export type ExitName = keyof typeof EXIT;

const CODES = {
  // Start-up ended by a signal or by the agent leaving: not a failure.
  INTERRUPTED: 'ok',
  USAGE: 'usage',
  CONFIG_READ: 'config',
  CONFIG_PARSE: 'config',
  CONFIG_INVALID: 'config',
  CONFIG_ENV_MISSING: 'config',
  FILE_ACCESS: 'config',
  BACKEND_START: 'backend',
  BACKEND_UNAVAILABLE: 'backend',
  BACKEND_AUTH: 'backend',
  STATE_UNAVAILABLE: 'backend',
  GUARD_LOAD: 'guard',
  GUARD_ABI: 'guard',
  GUARD_FAILED: 'guard',
  GUARD_LIMIT: 'guard',
  GUARD_OUTPUT: 'guard',
  SUPPLY_LOCK: 'supply',
  SUPPLY_HASH: 'supply',
  SUPPLY_SIGNATURE: 'supply',
  SUPPLY_FETCH: 'supply',
} as const satisfies Record<string, ExitName>;

export type ErrorCode = keyof typeof CODES;

export class McpgError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'McpgError';
    this.code = code;
  }
  get exitCode(): number {
    return EXIT[CODES[this.code]];
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Plain words for the file-system faults a user can meet and fix. */
const ERRNO: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOENT: 'no such file or directory',
  ENOTDIR: 'a part of the path is not a directory',
  EISDIR: 'it is a directory',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'the file system is read-only',
  EMFILE: 'too many open files',
  ENAMETOOLONG: 'the name is too long',
  EEXIST: 'it already exists',
  EIO: 'input/output error',
  EFBIG: 'the file is too large',
  ELOOP: 'it is a symbolic link, which mcpg does not follow here',
  ENXIO: 'it is a FIFO or socket with no reader',
};

/** The errno code of a Node system error, when it is one a user can fix. */
export function fsFault(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code in ERRNO ? code : undefined;
}

/** "permission denied (EACCES)" for a file-system fault; the error's own message otherwise. */
export function fsReason(err: unknown): string {
  const code = fsFault(err);
  return code ? `${ERRNO[code]} (${code})` : errorMessage(err);
}

/** The first problem a schema found in a value, as `path: message` ("(top level)" for the value itself). */
export function firstIssue(error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] }): string {
  const i = error.issues[0]!;
  return `${i.path.join('.') || '(top level)'}: ${i.message}`;
}
