import type { Limits } from '../config/schema.ts';
import { McpgError, errorMessage } from '../shared/errors.ts';
import { logger } from '../shared/log.ts';
import { abiProblems, type LabelExport } from './abi.ts';
import type { AgentAnswer, BackendCall, Guard, ResourceAnswer } from './guard.ts';
import { GuardInstance, GuardLimitError, GuardTrapError } from './host.ts';
import { PayloadError, parseAgent, parseResource, parseResponse } from './payload.ts';
import { type ModuleInfo, WasmFormatError, instrument } from './wasm-binary.ts';
import type { ResponseLabeling } from '../difc/response.ts';

/** A guard module checked against the ABI, capped, metered and compiled: made once per process. */
export interface CompiledGuard {
  module: WebAssembly.Module;
  info: ModuleInfo;
}

export async function compileGuard(name: string, bytes: Uint8Array, limits: Limits): Promise<CompiledGuard> {
  let rewritten;
  try {
    rewritten = instrument(bytes, { maxPages: limits.memory_mib * 16, initialFuel: BigInt(limits.fuel) * 10n });
  } catch (err) {
    if (err instanceof WasmFormatError) throw new McpgError('GUARD_ABI', `guard "${name}": ${err.message}`);
    throw err;
  }
  const problems = abiProblems(rewritten.info);
  if (problems.length) throw new McpgError('GUARD_ABI', `guard "${name}" does not fit the guard ABI: ${problems.join('; ')}`);
  try {
    return { module: await WebAssembly.compile(rewritten.bytes as BufferSource), info: rewritten.info };
  } catch (err) {
    throw new McpgError('GUARD_ABI', `guard "${name}" does not compile: ${errorMessage(err)}`);
  }
}

/**
 * A WebAssembly guard behind the Guard interface: a small pool of instances of one compiled
 * module (guest memory is not re-entrant), each told the policy before its first call.
 * A trap fails the guard for good; a limit fails only the call that hit it.
 */
export class WasmGuard implements Guard {
  readonly name: string;
  readonly #compiled: CompiledGuard;
  readonly #limits: Limits;
  readonly #idle: GuardInstance[] = [];
  readonly #waiting: { resolve: (i: GuardInstance) => void; reject: (e: unknown) => void }[] = [];
  #count = 0;
  #policy = '';
  #failed?: string;
  readonly #log;

  constructor(name: string, compiled: CompiledGuard, limits: Limits) {
    this.name = name;
    this.#compiled = compiled;
    this.#limits = limits;
    this.#log = logger(`guard:${name}`);
  }

  async labelAgent(policy: unknown, backend: BackendCall): Promise<AgentAnswer> {
    this.#policy = JSON.stringify(policy ?? {});
    const answer = await this.#invoke('label_agent', this.#policy, backend);
    if (answer === null) throw this.#error('label_agent', 'answered nothing (0): it must return the agent labels');
    return this.#parse('label_agent', answer, parseAgent);
  }

  async labelResource(tool: string, args: Record<string, unknown>, backend: BackendCall): Promise<ResourceAnswer> {
    const answer = await this.#invoke('label_resource', JSON.stringify({ tool_name: tool, tool_args: args }), backend);
    if (answer === null) throw this.#error('label_resource', 'answered nothing (0): it must return the resource labels');
    return this.#parse('label_resource', answer, parseResource);
  }

  async labelResponse(tool: string, args: Record<string, unknown>, result: unknown, backend: BackendCall): Promise<ResponseLabeling> {
    const input = JSON.stringify({ tool_name: tool, tool_args: args, tool_result: result });
    return this.#parse('label_response', await this.#invoke('label_response', input, backend), parseResponse);
  }

  #parse<T>(fn: LabelExport, answer: string | null, parser: (t: string) => T): T {
    try {
      return parser(answer as string);
    } catch (err) {
      if (err instanceof PayloadError) throw this.#error(fn, `answered malformed labels: ${err.message}`);
      throw err;
    }
  }

  #error(fn: LabelExport, what: string): McpgError {
    return new McpgError('GUARD_OUTPUT', `guard "${this.name}" ${fn} ${what}`);
  }

  async #invoke(fn: LabelExport, input: string, backend: BackendCall): Promise<string | null> {
    if (this.#failed) throw new McpgError('GUARD_FAILED', `guard "${this.name}" is failed (${this.#failed}); restart the gateway to reload it`);
    const instance = await this.#acquire(backend);
    let healthy = true;
    try {
      return await instance.call(fn, input, backend);
    } catch (err) {
      healthy = false;
      if (err instanceof GuardTrapError) {
        this.#failed = `${fn} ${err.message}`;
        this.#log.error(`failed: ${this.#failed}`);
        throw new McpgError('GUARD_FAILED', `guard "${this.name}" ${fn} ${err.message}; it is now failed until the gateway restarts`);
      }
      if (err instanceof GuardLimitError) throw new McpgError('GUARD_LIMIT', `guard "${this.name}" ${fn} ${err.message}`);
      throw new McpgError('GUARD_OUTPUT', `guard "${this.name}" ${fn} ${errorMessage(err)}`);
    } finally {
      this.#release(instance, healthy);
    }
  }

  async #acquire(backend: BackendCall): Promise<GuardInstance> {
    const idle = this.#idle.pop();
    if (idle) return idle;
    if (this.#count >= this.#limits.instances) return new Promise((resolve, reject) => this.#waiting.push({ resolve, reject }));
    this.#count++;
    try {
      const instance = GuardInstance.create(this.name, this.#compiled.module, this.#compiled.info, this.#limits);
      // Guards keep their policy in globals: every new instance hears it before its first call.
      if (this.#policy) await instance.call('label_agent', this.#policy, backend);
      return instance;
    } catch (err) {
      this.#count--;
      if (err instanceof GuardTrapError) this.#failed = `instantiation ${err.message}`;
      throw new McpgError('GUARD_FAILED', `guard "${this.name}" could not start an instance: ${errorMessage(err)}`);
    }
  }

  /** An instance that failed a call may hold broken state: it is dropped, not reused. */
  #release(instance: GuardInstance, healthy: boolean): void {
    const next = this.#waiting.shift();
    if (healthy) {
      if (next) next.resolve(instance);
      else this.#idle.push(instance);
      return;
    }
    this.#count--;
    if (next) this.#acquire(noBackend).then(next.resolve, next.reject);
  }
}

const noBackend: BackendCall = async () => {
  throw new Error('call_backend is not available while a replacement instance starts');
};
