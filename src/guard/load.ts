import type { Guard as GuardConfig, Server } from '../config/load.ts';
import { McpgError } from '../shared/errors.ts';
import { noopGuard, writeSinkGuard } from './builtin.ts';
import type { Guard } from './guard.ts';

/** The guard a server names, made from its config entry (no entry: the noop guard). */
export async function makeGuard(server: Server, guards: GuardConfig[]): Promise<Guard> {
  const cfg = guards.find((g) => g.name === server.guard);
  if (!cfg) return noopGuard();
  if ('builtin' in cfg) return cfg.builtin === 'noop' ? noopGuard(cfg.name) : writeSinkGuard(cfg.name, cfg.policy);
  throw new McpgError('GUARD_LOAD', `guard "${cfg.name}": only built-in guards can be loaded yet`);
}
