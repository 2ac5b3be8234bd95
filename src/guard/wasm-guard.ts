import type { Limits } from '../config/schema.ts';
import { McpgError, errorMessage } from '../shared/errors.ts';
import { logger } from '../shared/log.ts';
import { abiProblems, type LabelExport, WASI_MODULE } from './abi.ts';
import type { AgentAnswer, BackendCall, Guard, ResourceAnswer } from './guard.ts';
import { GuardAnswerError, GuardInstance, GuardLimitError, GuardTrapError, WouldWait } from './host.ts';
import { PayloadError, parseAgent, parseResource, parseResponse } from './payload.ts';
import { guardPolicy } from './policy.ts';
import { ASYNC_WASI } from './wasi.ts';
import { METERING_VERSION, type ModuleInfo, WasmFormatError, inspect, instrument } from './wasm-binary.ts';
import { type ResponseLabeling, pastGuardsRead } from '../difc/response.ts';

/** Keeps bytes derived from others (the metered module): `make` runs only when it has none. */
export type Derived = (key: string, make: () => Uint8Array) => Uint8Array;

/** Where a metered module is kept, and the sha256 of the bytes given (the lock's, checked). */
export interface KeepMetered {
  sha256: string;
  keep: Derived;
}

/** A guard module checked against the ABI, capped, metered and compiled: made once per process. */
export interface CompiledGuard {
  module: WebAssembly.Module;
  info: ModuleInfo;
}

export async function compileGuard(name: string, bytes: Uint8Array, limits: Limits, kept?: KeepMetered): Promise<CompiledGuard> {
  const options = { maxPages: limits.memory_mib * 16, initialFuel: BigInt(limits.fuel) * 10n };
  let info: ModuleInfo;
  let metered: Uint8Array;
  try {
    info = inspect(bytes);
    const problems = abiProblems(info);
    if (problems.length) throw new McpgError('GUARD_ABI', `guard "${name}" does not fit the guard ABI: ${problems.join('; ')}`);
    // The rewrite is deterministic: keyed by the original, the options and the rewriter's version.
    const make = () => instrument(bytes, options).bytes;
    metered = kept ? kept.keep(`metered v${METERING_VERSION} ${kept.sha256} ${options.maxPages} ${options.initialFuel}`, make) : make();
  } catch (err) {
    if (err instanceof WasmFormatError) throw new McpgError('GUARD_ABI', `guard "${name}": ${err.message}`);
    throw err;
  }
  try {
    return { module: await WebAssembly.compile(metered as BufferSource), info };
  } catch (err) {
    throw new McpgError('GUARD_ABI', `guard "${name}" does not compile: ${errorMessage(err)}`);
  }
}

/** A call waiting for an instance (all are made and busy), and of which kind. */
interface Waiter {
  backend: BackendCall;
  canWait: boolean;
  resolve: (i: GuardInstance) => void;
  reject: (e: unknown) => void;
}

/** After this many fresh instances in a row fail to start, the guard is failed for a while. */
const BREAKER_AFTER = 3;
/** Label calls remembered as ones whose guest waits; past this many, every instance can wait. */
const MAX_WAITED = 1024;
const BACKOFF_MS = [1_000, 2_000, 5_000, 10_000, 30_000, 60_000];

/**
 * A WebAssembly guard behind the Guard interface: a small pool of instances of one compiled
 * module (guest memory is not re-entrant). Each instance hears the policy through `label_agent`
 * exactly once, before its first call, with the backend of the call that needed it.
 *
 * A failure (trap, limit, bad answer) costs the call it happened in, never the guard: that
 * instance is dropped and the next call gets a fresh one. Only when fresh instances keep failing
 * `label_agent` itself (the guard cannot start) is the guard failed, and then retried with backoff.
 *
 * A guard that imports call_backend or a sleep may wait, but most of its calls do not: each label
 * call (by function and tool) first goes to an instance that cannot wait (see GuardInstance). If
 * its guest is about to wait, that instance is dropped and the call is made again on one that can;
 * the same label call goes there from then on.
 */
export class WasmGuard implements Guard {
  readonly name: string;
  readonly #compiled: CompiledGuard;
  readonly #limits: Limits;
  readonly #idle: GuardInstance[] = [];
  readonly #waiting: Waiter[] = [];
  #count = 0;
  /** The module imports something that waits (call_backend, poll_oneoff). */
  readonly #mayWait: boolean;
  /** Label calls whose guest waited: the tools, by label function. */
  readonly #waited: Record<LabelExport, Set<unknown>> = { label_agent: new Set(), label_resource: new Set(), label_response: new Set() };
  #waitedCount = 0;
  /** Every instance is made able to wait (label_agent waited, or too many calls did). */
  #allWait = false;
  #policy = '{}';
  /** Fresh instances that failed to start, in a row; the guard is failed while retryAt is ahead. */
  #startFailures = 0;
  #retryAt = 0;
  #lastStartError = '';
  readonly #log;
  readonly #now: () => number;

  constructor(name: string, compiled: CompiledGuard, limits: Limits, now: () => number = Date.now) {
    this.name = name;
    this.#compiled = compiled;
    this.#limits = limits;
    this.#mayWait = compiled.info.imports.some((i) => (i.module === 'env' && i.name === 'call_backend') || (i.module === WASI_MODULE && ASYNC_WASI.includes(i.name)));
    this.#log = logger(`guard:${name}`);
    this.#now = now;
  }

  /** Hears the policy (checked as gh-aw-mcpg checks it) on the first instance; its answer is the agent's labels. */
  async labelAgent(policy: unknown, backend: BackendCall): Promise<AgentAnswer> {
    this.#policy = JSON.stringify(guardPolicy(this.name, policy));
    this.#count++;
    const { instance, answer } = await this.#start(backend, false).catch((err: unknown) => {
      this.#count--;
      throw err;
    });
    this.#idle.push(instance);
    return answer;
  }

  /**
   * The guard's own JSON answer, unvalidated (for `guard call` and `guard test`, where the
   * author compares what the guard wrote). label_agent runs on a fresh instance.
   */
  async answer(fn: LabelExport, payload: unknown, backend: BackendCall): Promise<unknown> {
    const json = (text: string | null): unknown => {
      if (text === null) return null;
      try {
        return JSON.parse(text);
      } catch {
        throw new GuardAnswerError(`answered text that is not JSON: ${text.slice(0, 200)}`);
      }
    };
    if (fn !== 'label_agent') return this.#invoke(fn, payload as object, backend, json);
    let instance: GuardInstance | undefined;
    try {
      instance = GuardInstance.create(this.name, this.#compiled.module, this.#compiled.info, this.#limits);
      return json(await instance.call('label_agent', JSON.stringify(guardPolicy(this.name, payload)), backend));
    } catch (err) {
      if (err instanceof McpgError) throw err;
      throw this.#failure(`label_agent ${errorMessage(err)}`, err);
    } finally {
      instance?.close();
    }
  }

  // Not async: #invoke's own promise, without another around it.
  labelResource(tool: string, args: Record<string, unknown>, backend: BackendCall): Promise<ResourceAnswer> {
    return this.#invoke('label_resource', { tool_name: tool, tool_args: args }, backend, resourceAnswer);
  }

  async labelResponse(tool: string, args: Record<string, unknown>, result: unknown, backend: BackendCall): Promise<ResponseLabeling> {
    const labeling = await this.#invoke('label_response', { tool_name: tool, tool_args: args, tool_result: result }, backend, parseResponse);
    const past = pastGuardsRead(result as Record<string, unknown>, labeling);
    if (past) throw this.#failure(`label_response ${past}`, new GuardAnswerError());
    return labeling;
  }

  async #invoke<T>(fn: LabelExport, payload: object, backend: BackendCall, parser: (text: string | null) => T): Promise<T> {
    let input: string;
    try {
      input = JSON.stringify(payload);
    } catch (err) {
      // Data nested deeper than the encoder's stack: the call cannot be labeled, so it is denied.
      throw this.#failure(`${fn} input cannot be encoded (${errorMessage(err)}): it is nested too deeply`, new GuardLimitError());
    }
    const tool = (payload as { tool_name?: unknown }).tool_name;
    let canWait = this.#allWait || this.#waited[fn].has(tool);
    for (;;) {
      const instance = this.#idleFor(canWait) ?? (await this.#acquire(backend, canWait));
      let healthy = false;
      try {
        // An instance that cannot wait answers at once: no promise to wait for.
        const answer = read(instance.canWait ? await instance.call(fn, input, backend) : instance.callNow(fn, input, backend), parser);
        healthy = true;
        return answer;
      } catch (err) {
        if (err instanceof WouldWait) {
          // Made again where the guest can wait; this label call goes there from now on.
          if (++this.#waitedCount <= MAX_WAITED) this.#waited[fn].add(tool);
          else this.#allWait = true;
          canWait = true;
          continue;
        }
        const error = this.#failure(`${fn} ${errorMessage(err)}`, err);
        this.#log.warn(`${error.message}; the call is denied and the instance replaced`);
        throw error;
      } finally {
        this.#release(instance, healthy);
      }
    }
  }

  #failure(what: string, err: unknown): McpgError {
    const code = err instanceof GuardLimitError ? 'GUARD_LIMIT' : err instanceof GuardTrapError ? 'GUARD_FAILED' : 'GUARD_OUTPUT';
    return new McpgError(code, `guard "${this.name}" ${what}`);
  }

  /**
   * An idle instance for a call, at once: one that can wait when `canWait`, else one that cannot
   * (or, with every instance made, one that can: it serves any call).
   */
  #idleFor(canWait: boolean): GuardInstance | undefined {
    const idle = this.#idle;
    let at = idle.length - 1;
    while (at >= 0 && idle[at]!.canWait !== canWait && this.#mayWait) at--;
    if (at < 0 && this.#count >= this.#limits.instances) {
      at = idle.length - 1;
      while (at >= 0 && !idle[at]!.canWait) at--;
    }
    if (at < 0) return undefined;
    const instance = idle[at]!;
    idle.splice(at, 1);
    return instance;
  }

  /** An instance made for a call (none idle fits), or one given back by another call. */
  #acquire(backend: BackendCall, canWait: boolean): Promise<GuardInstance> {
    if (this.#count >= this.#limits.instances) {
      // All made, none idle that fits: an idle one that cannot wait gives way, or the call waits.
      if (!this.#idle.length) return new Promise((resolve, reject) => this.#waiting.push({ backend, canWait, resolve, reject }));
      this.#idle.pop()!.close();
      this.#count--;
    }
    this.#count++;
    return this.#start(backend, canWait).then(
      (s) => s.instance,
      (err: unknown) => {
        this.#count--;
        throw err;
      },
    );
  }

  /** A fresh instance of the compiled module, told the policy; the caller has counted it. */
  async #start(backend: BackendCall, canWait: boolean): Promise<{ instance: GuardInstance; answer: AgentAnswer }> {
    const wait = this.#retryAt - this.#now();
    if (wait > 0) {
      throw new McpgError('GUARD_FAILED', `guard "${this.name}" cannot start: ${this.#lastStartError}; it is failed until a retry in ${Math.ceil(wait / 1000)}s`);
    }
    let instance: GuardInstance | undefined;
    try {
      instance = GuardInstance.create(this.name, this.#compiled.module, this.#compiled.info, this.#limits, this.#mayWait && (canWait || this.#allWait));
      const answer = read(await instance.call('label_agent', this.#policy, backend), required(parseAgent));
      this.#startFailures = 0;
      return { instance, answer };
    } catch (err) {
      instance?.close();
      if (err instanceof WouldWait) {
        // label_agent waits: every instance from now on can.
        this.#allWait = true;
        return this.#start(backend, true);
      }
      const what = `label_agent ${errorMessage(err)}`;
      this.#lastStartError = what;
      if (++this.#startFailures >= BREAKER_AFTER) {
        const backoff = BACKOFF_MS[Math.min(this.#startFailures - BREAKER_AFTER, BACKOFF_MS.length - 1)]!;
        this.#retryAt = this.#now() + backoff;
        this.#log.error(`${what}: ${this.#startFailures} fresh instances in a row failed to start; the guard is failed, retry in ${backoff / 1000}s`);
      }
      throw this.#failure(what, err);
    }
  }

  /** An instance that failed a call may hold broken state: it is dropped, and a waiter gets a fresh one. */
  #release(instance: GuardInstance, healthy: boolean): void {
    const next = this.#waiting.shift();
    if (healthy && (!next || instance.canWait || !next.canWait || !this.#mayWait)) {
      if (next) next.resolve(instance);
      else this.#idle.push(instance);
      return;
    }
    // Dropped: it failed, or the waiter needs one that can wait and it gives way to a fresh one.
    instance.close();
    if (healthy) {
      this.#startFor(next!);
      return;
    }
    if (!next) {
      this.#count--;
      return;
    }
    this.#startFor(next);
  }

  /** A fresh instance for a waiting call, in place of one dropped. */
  #startFor(next: Waiter): void {
    this.#start(next.backend, next.canWait).then(
      (s) => next.resolve(s.instance),
      (err: unknown) => {
        this.#count--;
        next.reject(err);
      },
    );
  }
}

/** An answer the guard must give: 0 ("nothing") is not one. */
function required<T>(parser: (text: string) => T): (text: string | null) => T {
  return (text) => {
    if (text === null) throw new GuardAnswerError('answered nothing (0): it must return labels');
    return parser(text);
  };
}

/** label_resource's answer: labels are required. */
const resourceAnswer = required(parseResource);

/** The guard's answer, parsed; malformed labels are the guard's error. */
function read<T>(text: string | null, parser: (text: string | null) => T): T {
  try {
    return parser(text);
  } catch (err) {
    if (err instanceof PayloadError) throw new GuardAnswerError(`answered malformed labels: ${err.message}`);
    throw err;
  }
}
