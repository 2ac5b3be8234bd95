import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Guard as GuardConfig, Server } from '../config/load.ts';
import { McpgError, errorMessage } from '../shared/errors.ts';
import { noopGuard, writeSinkGuard } from './builtin.ts';
import type { Guard } from './guard.ts';
import { type CompiledGuard, WasmGuard, compileGuard } from './wasm-guard.ts';

/** Gives the bytes of a guard that is not built in (a local path, or the supply chain's cache). */
export type GuardBytes = (cfg: Exclude<GuardConfig, { builtin: unknown }>) => Promise<Uint8Array>;

export function readLocalGuard(cfg: GuardConfig & { path: string }): Uint8Array {
  try {
    return readFileSync(cfg.path);
  } catch (err) {
    throw new McpgError('GUARD_LOAD', `guard "${cfg.name}": cannot read ${cfg.path}: ${errorMessage(err)}`);
  }
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Makes each server's guard; a module used by several servers is compiled once. */
export class GuardFactory {
  readonly #guards: GuardConfig[];
  readonly #bytes: GuardBytes;
  readonly #compiled = new Map<string, Promise<CompiledGuard>>();

  constructor(guards: GuardConfig[], bytes: GuardBytes) {
    this.#guards = guards;
    this.#bytes = bytes;
  }

  async make(server: Server): Promise<Guard> {
    const cfg = this.#guards.find((g) => g.name === server.guard);
    if (!cfg) return noopGuard();
    if ('builtin' in cfg) return cfg.builtin === 'noop' ? noopGuard(cfg.name) : writeSinkGuard(cfg.name, cfg.policy);
    let compiled = this.#compiled.get(cfg.name);
    if (!compiled) {
      compiled = this.#bytes(cfg).then((bytes) => {
        if (cfg.sha256 && sha256(bytes) !== cfg.sha256) {
          throw new McpgError('SUPPLY_HASH', `guard "${cfg.name}": sha256 is ${sha256(bytes)}, but the config pins ${cfg.sha256}`);
        }
        return compileGuard(cfg.name, bytes, cfg.limits);
      });
      this.#compiled.set(cfg.name, compiled);
    }
    return new WasmGuard(cfg.name, await compiled, cfg.limits);
  }
}
