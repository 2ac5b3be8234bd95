import type { CommandModule } from 'yargs';
import { loadConfig } from '../../config/load.ts';
import { Cache } from '../../supply/cache.ts';
import { readLock } from '../../supply/lock.ts';
import { out } from '../output.ts';

const ls: CommandModule = {
  command: 'ls',
  describe: 'List what the guard cache holds',
  handler: () => {
    const cache = new Cache();
    const entries = cache.list();
    out([`${cache.dir}: ${entries.length} entries`, ...entries.map((e) => `  ${e.sha256}  ${e.size} bytes  ${e.modified.toISOString()}`)].join('\n'));
  },
};

const gc: CommandModule<object, { configs: string[] }> = {
  command: 'gc <configs..>',
  describe: 'Drop what no guards.lock of the given configs names',
  builder: (y) => y.positional('configs', { type: 'string', array: true, demandOption: true, describe: 'configs whose locked guards are kept' }),
  handler: (args) => {
    const keep = new Set<string>();
    for (const file of args.configs) {
      for (const e of Object.values(readLock(loadConfig(file, process.env, 'guards').lock).guards)) {
        keep.add(e.sha256);
        if (e.signer) keep.add(e.signer.bundle_sha256);
      }
    }
    const cache = new Cache();
    const dropped = cache.list().filter((e) => !keep.has(e.sha256));
    for (const e of dropped) cache.remove(e.sha256);
    // Derived entries (metered modules, verify verdicts) are keyed by what they were made from,
    // not by the lock: all go, and the ones still in use are made again on next use.
    const derived = cache.dropDerived();
    out(`${cache.dir}: dropped ${dropped.length}, kept ${cache.list().length}${derived ? `; dropped ${derived} derived entries (metered modules, verdicts: made again when used)` : ''}`);
  },
};

const clean: CommandModule = {
  command: 'clean',
  describe: 'Empty the guard cache',
  handler: () => {
    const cache = new Cache();
    cache.clean();
    out(`${cache.dir}: emptied`);
  },
};

export const cacheCommand: CommandModule = {
  command: 'cache <command>',
  describe: 'Manage the content-addressed guard cache (MCPG_CACHE_DIR)',
  builder: (y) => y.command(ls).command(gc).command(clean).demandCommand(1),
  handler: () => {},
};
