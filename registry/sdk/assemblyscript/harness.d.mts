/** Canned answers of `call_backend` by tool: an MCP tool result, or a function of the arguments (undefined: the call fails). */
export type FakeBackend = Record<string, unknown | ((args: unknown) => unknown)>;

export interface TestGuard {
  /** The guard's answer as parsed JSON; null when it answered "no labels" (0). Throws GuardError on a negative code. */
  labelAgent(policy: unknown): unknown;
  labelResource(input: unknown): unknown;
  labelResponse(input: unknown): unknown;
  /** Every line the guard logged, oldest first. */
  readonly logs: { level: number; message: string }[];
}

/** A call the guard answered with an error code (-1: it denied or could not read the input). */
export class GuardError extends Error {
  readonly code: number;
}

/** Loads a guard module (bytes, or a path or file URL) with a fake backend. */
export function loadGuard(wasm: Uint8Array | string | URL, options?: { backend?: FakeBackend }): Promise<TestGuard>;
