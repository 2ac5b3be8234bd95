import type { Guard as GuardConfig, Server } from '../config/load.ts';
import { noopGuard, writeSinkGuard } from './builtin.ts';
import type { Guard } from './guard.ts';
import { guardPolicy } from './policy.ts';
import { type CompiledGuard, type Derived, WasmGuard, compileGuard } from './wasm-guard.ts';

type Supplied = Exclude<GuardConfig, { builtin: unknown }>;

/** Gives the verified module bytes of a guard that is not built in, and their sha256 (the supply chain checks them). */
export type GuardBytes = (cfg: Supplied) => Promise<{ bytes: Uint8Array; sha256: string }>;

/** Makes each server's guard; a module used by several servers is compiled once. */
export class GuardFactory {
  readonly #guards: GuardConfig[];
  readonly #bytes: GuardBytes;
  readonly #derived?: Derived;
  readonly #compiled = new Map<string, Promise<CompiledGuard>>();

  /** `derived` keeps metered modules between runs (the rewrite of a large guard takes a while). */
  constructor(guards: GuardConfig[], bytes: GuardBytes, derived?: Derived) {
    this.#guards = guards;
    this.#bytes = bytes;
    this.#derived = derived;
  }

  async make(server: Server): Promise<Guard> {
    const cfg = this.#guards.find((g) => g.name === server.guard);
    if (!cfg) return noopGuard();
    if ('builtin' in cfg) return cfg.builtin === 'noop' ? noopGuard(cfg.name) : writeSinkGuard(cfg.name, cfg.policy);
    // A mistake in the policy is a config error at start, though label_agent runs later.
    guardPolicy(cfg.name, cfg.policy);
    let compiled = this.#compiled.get(cfg.name);
    if (!compiled) {
      // Hash and signature are checked by the supply chain before a byte is compiled.
      compiled = this.#bytes(cfg).then(({ bytes, sha256 }) => compileGuard(cfg.name, bytes, cfg.limits, this.#derived && { sha256, keep: this.#derived }));
      this.#compiled.set(cfg.name, compiled);
    }
    return new WasmGuard(cfg.name, await compiled, cfg.limits);
  }
}
