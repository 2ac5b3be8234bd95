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
  USAGE: 'usage',
  CONFIG_READ: 'config',
  CONFIG_PARSE: 'config',
  CONFIG_INVALID: 'config',
  CONFIG_ENV_MISSING: 'config',
  BACKEND_START: 'backend',
  BACKEND_UNAVAILABLE: 'backend',
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
