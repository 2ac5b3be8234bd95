/**
 * A value, or a promise of it, where an answer is often there at once (an in-memory store's, a
 * built-in guard's). A caller on the hot path awaits only a promise: each `await` and each async
 * function's own promise is a turn of the microtask queue: a tools/call took 33 promises before
 * these answers were given as they are, and other such changes (14 now).
 */
export type Awaitable<T> = T | Promise<T>;
