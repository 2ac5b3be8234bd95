/**
 * How a request, or a guard's call, learns that it is cancelled: mcpg's own, not an AbortSignal.
 * Every call of the agent's is linked to the request it makes of its server, and an EventTarget
 * (an AbortController made, a listener added and removed) for that link measured a tenth of the
 * gateway's work a call under 64 callers.
 */
export interface Cancel {
  readonly cancelled: boolean;
  readonly reason?: unknown;
  /** Calls `listener` once, when cancelled (not if it already is); returns what removes it. */
  onCancel(listener: (reason: unknown) => void): () => void;
}

/** A Cancel that is cancelled by calling `cancel`. */
export class Cancellation implements Cancel {
  cancelled = false;
  reason?: unknown;
  #listeners?: ((reason: unknown) => void)[];

  onCancel(listener: (reason: unknown) => void): () => void {
    if (this.cancelled) return () => {};
    (this.#listeners ??= []).push(listener);
    return () => {
      const at = this.#listeners?.indexOf(listener) ?? -1;
      if (at >= 0) this.#listeners!.splice(at, 1);
    };
  }

  cancel(reason: unknown = 'cancelled'): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.reason = reason;
    const listeners = this.#listeners ?? [];
    this.#listeners = undefined;
    for (const listener of listeners) listener(reason);
  }
}

/** Waits `ms`; rejects with `error` if `cancel` is cancelled first. */
export function pause(ms: number, cancel: Cancel, error: Error): Promise<void> {
  if (cancel.cancelled) return Promise.reject(error);
  return new Promise((resolve, reject) => {
    const off = cancel.onCancel(() => (clearTimeout(timer), reject(error)));
    const timer = setTimeout(() => (off(), resolve()), ms);
  });
}
