import type { Limits } from '../config/schema.ts';
import { errorMessage } from '../shared/errors.ts';
import { Cancellation, pause } from '../shared/cancel.ts';
import { type Level, type Logger, logger, logs } from '../shared/log.ts';
import { ENV_IMPORTS, type LabelExport, LABEL_EXPORTS, RC_ERROR, RC_NOTHING, RC_TOO_SMALL, WASI_MODULE } from './abi.ts';
import type { BackendCall } from './guard.ts';
import { FUEL_EXPORT, type ModuleInfo } from './wasm-binary.ts';
import { ASYNC_WASI, ProcExit, wasiImports } from './wasi.ts';

/** JSPI (on by default in Node 24): an async import suspends the guest, not the event loop. */
const JSPI = WebAssembly as unknown as {
  Suspending: new (fn: (...args: number[]) => Promise<number>) => object;
  promising: (fn: unknown) => (...args: number[]) => Promise<number>;
};

const PAGE = 65536;
const ENCODER = new TextEncoder();
/** Answers must be valid UTF-8; tool names, arguments and log lines are read leniently. */
const UTF8 = new TextDecoder('utf-8', { fatal: true });
const LENIENT = new TextDecoder();
/** gh-aw-mcpg's first output buffer: guards that answer -1 (not -2) when it is short rely on it. */
const FIRST_OUTPUT = 4 * 1024 * 1024;
const MAX_RETRIES = 4;
/** A call's attempt that asked for a bigger output buffer: it is made again. */
const AGAIN = Symbol('again');

/**
 * How a call into the guest failed. Each costs that call only: the pool drops the instance
 * and the next call gets a fresh one.
 */
/** A limit the guard hit (fuel, deadline, call_backend count, sizes). */
export class GuardLimitError extends Error {}
/** The guard broke (trap, proc_exit, abort). */
export class GuardTrapError extends Error {}
/** The guard answered with an error code. */
export class GuardAnswerError extends Error {}
/**
 * The guest of an instance that cannot wait was about to (a backend call, a sleep): the call is
 * made again on an instance that can, and this one, stopped halfway, is dropped.
 */
export class WouldWait extends Error {}
const WOULD_WAIT = new WouldWait('the guest would wait');

const DEADLINE_PASSED = new GuardLimitError('deadline passed while the guard waited (call_backend or sleep)');
/**
 * What a host call costs in fuel: a fixed part (the host's work, about a microsecond) and one
 * unit per byte it reads from or writes to guest memory, so that a guard calling the host in a
 * loop, or with huge buffers, is bounded like any other loop.
 */
const HOST_CALL_FUEL = 5_000;
/** What is kept of one log line a guard writes (host_log, or a line on stdout/stderr). */
const LOG_LINE = 4096;
/** mcpg's level for each of a guard's (0 debug, 1 info, 2 warn, 3 error). */
const GUEST_LEVELS: Level[] = ['debug', 'debug', 'warn', 'error'];
const OUT_OF_FUEL = 'ran out of fuel (CPU limit; raise limits.fuel if the guard is slow but correct)';

type LabelFns = Record<LabelExport, (...a: number[]) => number | Promise<number>>;
interface Region {
  ptr: number;
  size: number;
}
/** Where a call's input is written and its answer read, in guest memory. */
interface CallBuffers {
  inPtr: number;
  outPtr: number;
  outSize: number;
}

/** The one invocation in flight on an instance: its backend, and its call_backend budget. */
interface Invocation {
  backend: BackendCall;
  /** call_backend past the limit was answered -1 (said once in the log). */
  refused: boolean;
  /** When the call began: its deadline is timeout_ms after. */
  began: number;
  /** Fails the call (at the deadline). */
  fail: (err: Error) => void;
  /**
   * Set when the guest first waits (see #waiting): cancelled at the deadline, which cancels the
   * backend calls in flight and unwinds the guest instead of resuming it.
   */
  deadline?: Cancellation;
  calls: number;
  /** The answer that did not fit, kept for the guest's retry with a bigger buffer. */
  retry?: { tool: string; args: string; answer: string };
}

/**
 * One instance of a compiled guard: it owns the guest memory and the functions the guest
 * imports. Guest memory is not re-entrant, so an instance runs one call at a time.
 *
 * An instance that can wait runs each call on a stack of its own (JSPI), so that a backend call
 * suspends the guest, not the event loop. One that cannot runs calls directly on the caller's
 * stack, which costs far less (about 6 us of CPU a call in the gateway, where the switch of
 * stacks runs from cold caches); when its guest is about to wait, the call stops (WouldWait).
 */
export class GuardInstance {
  readonly #name: string;
  readonly canWait: boolean;
  readonly #limits: Limits;
  readonly #log: Logger;
  #memory!: WebAssembly.Memory;
  #fuel!: WebAssembly.Global;
  #exports!: Record<string, unknown>;
  #labels!: LabelFns;
  #alloc?: { alloc: (n: number) => number; dealloc: (p: number, n: number) => void };
  /** Call buffers from the guest's alloc, reused across calls. */
  #in?: Region;
  #out?: Region;
  /** For modules without alloc/dealloc: a scratch region the host grew past the guest's data. */
  #scratch?: Region;
  #current?: Invocation;
  #deadlineTimer?: NodeJS.Timeout;
  #deadlineArmedFor = 0;
  /** The output buffer the guest asked for (-2), for the call's next attempt. */
  #nextOutput = 0;

  readonly #fuelBudget: bigint;

  private constructor(name: string, limits: Limits, canWait: boolean) {
    this.#name = name;
    this.canWait = canWait;
    this.#limits = limits;
    this.#fuelBudget = BigInt(limits.fuel);
    this.#log = logger(`guard:${name}`);
  }

  static create(name: string, module: WebAssembly.Module, info: ModuleInfo, limits: Limits, canWait = true): GuardInstance {
    const self = new GuardInstance(name, limits, canWait);
    const wasiNames = info.imports.filter((i) => i.module === WASI_MODULE).map((i) => i.name);
    const env: Record<string, unknown> = {};
    for (const i of info.imports) if (i.module === 'env' && i.name in ENV_IMPORTS) env[i.name] = self.#envImport(i.name);
    const wasi = wasiImports(() => self.#memory, self.#log, wasiNames, (ms) => self.#sleep(ms), (bytes) => self.#charge(bytes));
    // An import that waits (poll_oneoff's sleep) suspends the guest, not the event loop.
    for (const name of ASYNC_WASI) {
      if (!(name in wasi)) continue;
      wasi[name] = canWait
        ? new JSPI.Suspending(wasi[name] as (...a: number[]) => Promise<number>)
        : () => {
            throw WOULD_WAIT;
          };
    }
    const instance = runGuest(name, () => new WebAssembly.Instance(module, { env, [WASI_MODULE]: wasi } as WebAssembly.Imports));
    self.#exports = instance.exports as Record<string, unknown>;
    self.#memory = self.#exports.memory as WebAssembly.Memory;
    self.#fuel = self.#exports[FUEL_EXPORT] as WebAssembly.Global;
    self.#labels = Object.fromEntries(LABEL_EXPORTS.map((n) => [n, canWait ? JSPI.promising(self.#exports[n]) : self.#exports[n]])) as LabelFns;
    if (typeof self.#exports.alloc === 'function') {
      self.#alloc = { alloc: self.#exports.alloc as (n: number) => number, dealloc: self.#exports.dealloc as (p: number, n: number) => void };
    }
    const init = self.#exports._initialize;
    if (typeof init === 'function') self.#metered(() => (init as () => void)());
    return self;
  }

  /**
   * One ABI call: JSON in, JSON out (null for "nothing"), with the -2 retry protocol, under a
   * wall-clock deadline that covers backend calls (CPU is bounded by fuel, waiting by this).
   */
  call(fn: LabelExport, input: string, backend: BackendCall): Promise<string | null> {
    let length: number;
    try {
      if (!this.canWait) return Promise.resolve(this.callNow(fn, input, backend));
      length = this.#measured(fn, input);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    // CPU is bounded by fuel; the clock only matters once the guest waits, so the deadline's
    // timer starts then (most calls never wait, and a timer per call was a tenth of its cost).
    // Promises chained, not awaited in async functions: each of those was another a call.
    return new Promise<string | null>((resolve, reject) => {
      const inv: Invocation = { backend, began: performance.now(), calls: 0, refused: false, fail: (err) => (this.#ended(inv), reject(err)) };
      this.#current = inv;
      // A guest abandoned at the deadline still settles later; that outcome is nobody's.
      this.#run(fn, input, length, 0, this.#firstOutput()).then(
        (answer) => (this.#ended(inv), resolve(answer)),
        (err: unknown) => (this.#ended(inv), reject(err)),
      );
    });
  }

  /** The instance is no longer running `inv` (if a later call has not begun on it). */
  #ended(inv: Invocation): void {
    if (this.#current === inv) this.#current = undefined;
  }

  /**
   * The same call on an instance that cannot wait: made on the caller's stack, answered at once
   * (no promise, no turn of the event loop: a label call costs several times more in the
   * gateway than in a loop, its code out of the CPU's caches, and each layer adds to that).
   */
  callNow(fn: LabelExport, input: string, backend: BackendCall): string | null {
    if (this.canWait) throw new Error('an instance that can wait is called with call()');
    const length = this.#measured(fn, input);
    // Nothing waits, so no deadline timer: the clock is read at each host call.
    this.#current = { backend, began: performance.now(), fail: () => {}, calls: 0, refused: false };
    try {
      for (let attempt = 0, size = this.#firstOutput(); ; attempt++) {
        const buffers = this.#prepare(input, length, size);
        let rc: number;
        try {
          rc = (this.#labels[fn] as (...a: number[]) => number)(buffers.inPtr, length, buffers.outPtr, buffers.outSize);
        } catch (err) {
          throw classify(this.#name, err, this);
        }
        const answer = this.#answer(fn, rc, buffers, attempt);
        if (answer !== AGAIN) return answer;
        size = this.#nextOutput;
      }
    } finally {
      this.#current = undefined;
    }
  }

  /** What tells a call whose guest is about to wait that its deadline passed. */
  #waiting(inv: Invocation): Cancellation {
    if (!inv.deadline) {
      inv.deadline = new Cancellation();
      this.#armDeadline(inv);
    }
    return inv.deadline;
  }

  /**
   * The deadline timer of the instance, for its call that waits now: one timer, made once and
   * then re-armed (refresh), where one made and cleared for each wait cost 0.7 us of a 10 us
   * call. It is re-armed only when the call began within 1 ms (so the deadline is at most 1 ms
   * late); otherwise, or when it fires early (armed for another call), it is set for what is left.
   */
  #armDeadline(inv: Invocation): void {
    const timeout = this.#limits.timeout_ms;
    const left = inv.began + timeout - performance.now();
    if (this.#deadlineTimer && this.#deadlineArmedFor === timeout && left >= timeout - 1) {
      this.#deadlineTimer.refresh();
      return;
    }
    clearTimeout(this.#deadlineTimer);
    const armedFor = left >= timeout - 1 ? timeout : Math.max(0, left);
    // Unreferenced: it never keeps the process alive, and fires for nobody once calls are done.
    this.#deadlineTimer = setTimeout(() => this.#deadlinePassed(), armedFor).unref();
    this.#deadlineArmedFor = armedFor;
  }

  #deadlinePassed(): void {
    const inv = this.#current;
    if (!inv?.deadline) return;
    if (performance.now() - inv.began < this.#limits.timeout_ms) return this.#armDeadline(inv);
    inv.deadline.cancel();
    inv.fail(this.#tooLate());
  }

  /** Dropped from its pool: its timer goes (it would keep the instance's memory until it fired). */
  close(): void {
    clearTimeout(this.#deadlineTimer);
  }

  /** The input's length in bytes, within the input cap (it is encoded straight into the guest's memory). */
  #measured(fn: LabelExport, input: string): number {
    const length = Buffer.byteLength(input, 'utf8');
    if (length > this.#limits.input_mib * 1024 * 1024) {
      throw new GuardLimitError(`input to ${fn} is ${length} bytes, over the ${this.#limits.input_mib} MiB input cap`);
    }
    return length;
  }

  /** The first output buffer: FIRST_OUTPUT, and an eighth of the memory cap at most (small caps). */
  #firstOutput(): number {
    return Math.min(FIRST_OUTPUT, (this.#limits.memory_mib * 1024 * 1024) / 8);
  }

  /** One attempt of a call (the -2 protocol): the input written into the guest, its fuel refilled. */
  #prepare(input: string, length: number, size: number): CallBuffers {
    const buffers = this.#buffers(length, size);
    ENCODER.encodeInto(input, new Uint8Array(this.#memory.buffer, buffers.inPtr, length));
    this.#fuel.value = this.#fuelBudget;
    return buffers;
  }

  /**
   * What the guest's return code says: its answer (null for nothing), or AGAIN with a bigger
   * output buffer (#nextOutput) when it asked for one, within the output cap and MAX_RETRIES.
   */
  #answer(fn: LabelExport, rc: number, { outPtr, outSize }: CallBuffers, attempt: number): string | null | typeof AGAIN {
    // Fuel is tested at loop heads and function entries only; the tail of a call is tested here.
    if (this.outOfFuel) throw new GuardLimitError(OUT_OF_FUEL);
    if (rc === RC_NOTHING) return null;
    if (rc > 0) {
      if (rc > outSize) throw new GuardAnswerError(`${fn} claims ${rc} bytes written into a ${outSize}-byte buffer`);
      return UTF8.decode(new Uint8Array(this.#memory.buffer, outPtr, rc));
    }
    if (rc !== RC_TOO_SMALL) throw new GuardAnswerError(`${fn} returned error code ${rc}`);
    const wanted = new DataView(this.#memory.buffer).getUint32(outPtr, true);
    const next = wanted > outSize ? wanted : outSize * 2;
    if (next > this.#limits.output_mib * 1024 * 1024) throw new GuardLimitError(`${fn} needs a ${next}-byte output buffer, over the ${this.#limits.output_mib} MiB output cap`);
    if (attempt + 1 >= MAX_RETRIES) throw new GuardAnswerError(`${fn} still reported a too-small buffer after ${MAX_RETRIES} tries`);
    this.#nextOutput = next;
    return AGAIN;
  }

  /** The call on a stack of its own: the guest may wait. Another attempt (the -2 protocol) follows the last. */
  #run(fn: LabelExport, input: string, length: number, attempt: number, size: number): Promise<string | null> {
    let buffers: CallBuffers;
    let running: Promise<number>;
    try {
      buffers = this.#prepare(input, length, size);
      running = this.#labels[fn](buffers.inPtr, length, buffers.outPtr, buffers.outSize) as Promise<number>;
    } catch (err) {
      return Promise.reject(classify(this.#name, err, this));
    }
    return running.then(
      (rc) => {
        const answer = this.#answer(fn, rc, buffers, attempt);
        return answer === AGAIN ? this.#run(fn, input, length, attempt + 1, this.#nextOutput) : answer;
      },
      (err: unknown) => {
        throw classify(this.#name, err, this);
      },
    );
  }

  /** A guest's sleep: part of its call's deadline (waiting costs no fuel); cut short at the deadline. */
  #sleep(ms: number): Promise<void> {
    const inv = this.#current;
    if (!inv) return Promise.reject(new GuardTrapError('slept outside a call'));
    return pause(ms, this.#waiting(inv), DEADLINE_PASSED);
  }

  /** Fuel the last call used (its -2 retries: the last attempt). */
  get fuelUsed(): bigint {
    return this.#fuelBudget - (this.#fuel.value as bigint);
  }

  /** Fuel left after a trap tells a CPU limit from a guest's own trap. */
  get outOfFuel(): boolean {
    return (this.#fuel.value as bigint) < 0n;
  }

  #metered<T>(fn: () => T): T {
    this.#fuel.value = BigInt(this.#limits.fuel) * 10n;
    return runGuest(this.#name, fn, this);
  }

  /**
   * The call buffers, kept across calls and grown when a call needs more: allocating (and
   * zeroing) them in the guest on every call costs more than the call itself.
   */
  #buffers(inLen: number, outLen: number): CallBuffers {
    const a = this.#alloc;
    if (a) {
      const get = (held: Region | undefined, size: number): Region => {
        if (held && held.size >= size) return held;
        if (held) this.#metered(() => a.dealloc(held.ptr, held.size));
        const want = Math.max(size, 1024);
        const ptr = this.#metered(() => a.alloc(want));
        if (!ptr) throw new GuardLimitError('alloc returned 0 (guest out of memory)');
        return { ptr, size: want };
      };
      this.#in = get(this.#in, inLen);
      this.#out = get(this.#out, outLen);
      return { inPtr: this.#in.ptr, outPtr: this.#out.ptr, outSize: this.#out.size };
    }
    const need = inLen + outLen;
    if (!this.#scratch || this.#scratch.size < need) {
      const pages = Math.ceil(need / PAGE);
      let old: number;
      try {
        old = this.#memory.grow(pages);
      } catch {
        throw new GuardLimitError(`no room for ${need} bytes of call buffers under the ${this.#limits.memory_mib} MiB memory cap`);
      }
      this.#scratch = { ptr: old * PAGE, size: pages * PAGE };
    }
    return { inPtr: this.#scratch.ptr, outPtr: this.#scratch.ptr + inLen, outSize: this.#scratch.size - inLen };
  }

  #read(ptr: number, len: number): string {
    return LENIENT.decode(new Uint8Array(this.#memory.buffer, ptr, len));
  }

  /**
   * The price of a host call: fuel for its work and its bytes, and the call's deadline (from
   * its start), checked here since a guest that never waits is never stopped by a timer.
   */
  #charge(bytes: number, fixed = HOST_CALL_FUEL): void {
    const left = (this.#fuel.value as bigint) - BigInt(fixed + Math.max(0, bytes));
    this.#fuel.value = left;
    if (left < 0n) throw new GuardLimitError(OUT_OF_FUEL);
    const inv = this.#current;
    if (inv && performance.now() - inv.began > this.#limits.timeout_ms) throw this.#tooLate();
  }

  /** A call past its deadline (limits.timeout_ms from its start). */
  #tooLate(): GuardLimitError {
    return new GuardLimitError(`did not answer within ${this.#limits.timeout_ms} ms (limits.timeout_ms)`);
  }

  #envImport(name: string): unknown {
    if (name === 'host_log') {
      // A guard's debug and info lines are mcpg's debug: real guards log a dozen lines a call.
      return (level: number, ptr: number, len: number) => {
        this.#charge(len);
        const at = GUEST_LEVELS[Math.min(Math.max(level, 0), 3)]!;
        if (logs(at)) this.#log[at](this.#read(ptr, Math.min(len, LOG_LINE)));
      };
    }
    if (name === 'abort') {
      return (msg: number, file: number, line: number, col: number) => {
        throw new GuardTrapError(`aborted: ${this.#asString(msg)} at ${this.#asString(file)}:${line}:${col}`);
      };
    }
    const callBackend = (...a: number[]) => this.#callBackend(a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!);
    return this.canWait ? new JSPI.Suspending(callBackend as (...a: number[]) => Promise<number>) : callBackend;
  }

  /** AssemblyScript strings: UTF-16, byte length in the u32 before the pointer. */
  #asString(ptr: number): string {
    if (!ptr) return '(no message)';
    const len = new DataView(this.#memory.buffer).getUint32(ptr - 4, true);
    return Buffer.from(new Uint8Array(this.#memory.buffer, ptr, len)).toString('utf16le');
  }

  /**
   * call_backend. What needs no waiting (a refusal, the answer kept for a -2 retry) is answered
   * at once, without suspending the guest; only a real backend call waits.
   */
  #callBackend(toolPtr: number, toolLen: number, argsPtr: number, argsLen: number, resPtr: number, resSize: number): number | Promise<number> {
    const inv = this.#current;
    if (!inv) return RC_ERROR;
    this.#charge(toolLen + argsLen);
    const tool = this.#read(toolPtr, toolLen);
    const argsText = this.#read(argsPtr, argsLen);
    const retry = inv.retry;
    inv.retry = undefined;
    if (retry && retry.tool === tool && retry.args === argsText) return this.#deliver(inv, tool, argsText, retry.answer, resPtr, resSize);
    if (inv.calls >= this.#limits.backend_calls) {
      // As gh-aw-mcpg: past the limit call_backend answers -1 and the guard goes on (it falls
      // back to cheaper evidence); the log says so once per call, the audit line per refusal.
      if (!inv.refused) this.#log.warn(`call_backend past limits.backend_calls (${this.#limits.backend_calls}): answered -1 from here on in this call`);
      inv.refused = true;
      inv.backend.refused?.(tool, `over limits.backend_calls (${this.#limits.backend_calls})`);
      return RC_ERROR;
    }
    inv.calls++;
    const allowed = this.#limits.backend_tools;
    if (allowed && !allowed.includes(tool)) {
      this.#log.warn(`call_backend("${tool}") refused: not in limits.backend_tools`);
      return RC_ERROR;
    }
    let args: unknown;
    try {
      args = JSON.parse(argsText || '{}');
    } catch {
      this.#log.warn(`call_backend("${tool}"): arguments are not JSON`);
      return RC_ERROR;
    }
    // This instance's guest cannot wait for the answer: the call is made again on one that can.
    if (!this.canWait) throw WOULD_WAIT;
    return this.#ask(inv, tool, (args ?? {}) as Record<string, unknown>, argsText, resPtr, resSize);
  }

  #ask(inv: Invocation, tool: string, args: Record<string, unknown>, argsText: string, resPtr: number, resSize: number): Promise<number> {
    const deadline = this.#waiting(inv);
    const failed = (err: unknown) => {
      if (deadline.cancelled) throw DEADLINE_PASSED;
      this.#log.warn(`call_backend("${tool}") failed: ${errorMessage(err)}`);
      return RC_ERROR;
    };
    let asked: Promise<unknown>;
    try {
      asked = inv.backend(tool, args, deadline);
    } catch (err) {
      asked = Promise.reject(err);
    }
    return asked.then((result) => {
      let answer: string;
      try {
        answer = JSON.stringify(result);
      } catch (err) {
        return failed(err);
      }
      // Past the deadline the caller has its answer: unwind the guest instead of resuming it.
      if (deadline.cancelled) throw DEADLINE_PASSED;
      return this.#deliver(inv, tool, argsText, answer, resPtr, resSize);
    }, failed);
  }

  /** The answer, measured, then encoded straight into the guest's buffer when it fits. */
  #deliver(inv: Invocation, tool: string, args: string, answer: string, resPtr: number, resSize: number): number {
    const length = Buffer.byteLength(answer, 'utf8');
    // The answer's bytes; the call itself was priced when it was made.
    this.#charge(Math.min(length, resSize), 0);
    // The memory may have grown (and its buffer changed) while the guest was suspended.
    if (length > resSize) {
      if (resSize >= 4) new DataView(this.#memory.buffer).setUint32(resPtr, length, true);
      inv.retry = { tool, args, answer };
      return RC_TOO_SMALL;
    }
    ENCODER.encodeInto(answer, new Uint8Array(this.#memory.buffer, resPtr, length));
    return length;
  }
}

/** Runs guest code; turns what escapes it into the host's error kinds. */
function runGuest<T>(name: string, fn: () => T, instance?: GuardInstance): T {
  try {
    return fn();
  } catch (err) {
    throw classify(name, err, instance);
  }
}

function classify(name: string, err: unknown, instance?: GuardInstance): Error {
  if (err instanceof GuardLimitError || err instanceof GuardTrapError || err instanceof GuardAnswerError || err instanceof WouldWait) return err;
  if (instance?.outOfFuel) return new GuardLimitError(OUT_OF_FUEL);
  if (err instanceof ProcExit) return new GuardTrapError(err.message);
  if (err instanceof WebAssembly.RuntimeError) return new GuardTrapError(`trapped: ${err.message}`);
  if (err instanceof RangeError && /stack/i.test(err.message)) return new GuardTrapError('trapped: call stack exhausted');
  if (err instanceof WebAssembly.LinkError || err instanceof WebAssembly.CompileError) {
    return new GuardTrapError(`cannot be instantiated: ${err.message}`);
  }
  return new GuardTrapError(`failed: ${errorMessage(err)} (in guard ${name})`);
}
