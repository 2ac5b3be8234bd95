import type { Argv, Options } from 'yargs';
import { type Config, loadConfig } from '../config/load.ts';
import type { Index } from '../registry/index.ts';
import { Supply } from '../supply/resolve.ts';

/** The options every command that reaches guards.lock shares, and the Supply they make. */
export interface SupplyArgs {
  config: string;
  lock?: string;
  frozen: boolean;
  offline: boolean;
  'trusted-root'?: string;
  registry?: string;
}

export const SUPPLY_OPTIONS = {
  config: { alias: 'c', type: 'string', default: 'mcpg.toml', describe: 'config file (.toml or .json)' },
  lock: { type: 'string', describe: 'guards.lock to use (default: [gateway] lock, beside the config)' },
  frozen: { type: 'boolean', default: false, describe: 'never write guards.lock' },
  offline: { type: 'boolean', default: false, describe: 'never touch the network (the cache must hold everything)' },
  'trusted-root': { type: 'string', describe: 'Sigstore trusted_root.json (default: the public-good root built in)' },
  registry: { type: 'string', describe: 'plugin registry index, URL or file (default: the one built in)' },
} as const satisfies Record<string, Options>;

export function withSupplyOptions<T>(y: Argv<T>) {
  return y.options(SUPPLY_OPTIONS);
}

/** The servers' `${VAR}` references stay unexpanded: supplying guards does not need them. */
export function supplyFrom(args: SupplyArgs, config: Config = loadConfig(args.config, process.env, 'guards')): Supply {
  // The registry (and semver) load only for a config that names a registry guard.
  let index: Promise<Index> | undefined;
  const registry = () => import('../registry/index.ts');
  const loaded = () => (index ??= registry().then((r) => r.loadIndex(args.registry)));
  return new Supply(config, {
    lockFile: args.lock,
    frozen: args.frozen,
    offline: args.offline,
    trustedRoot: args['trusted-root'],
    registry: async (source, guard) => (await registry()).pick(await loaded(), source, guard),
    yanked: async (source, sha256) => (await registry()).lockedVersion(await loaded(), source, sha256).yanked,
  });
}
