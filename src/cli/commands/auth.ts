import type { CommandModule } from 'yargs';
import { type HttpServer, loadConfig } from '../../config/load.ts';
import type { AuthRecord } from '../../auth/store.ts';
import { McpgError } from '../../shared/errors.ts';
import { note, out } from '../output.ts';

interface Args {
  config: string;
  server?: string;
}

/** The HTTP server named on the command line, from the config. */
function httpServer(args: Args): HttpServer {
  const config = loadConfig(args.config);
  const s = config.servers.find((x) => x.name === args.server);
  if (!s) throw new McpgError('USAGE', `${config.file}: no server named "${args.server}" (servers: ${config.servers.map((x) => x.name).join(', ') || 'none'})`);
  if (!('url' in s)) throw new McpgError('USAGE', `server "${s.name}" is a local command: only HTTP servers log in`);
  return s;
}

const configOption = { type: 'string', default: 'mcpg.toml', describe: 'the config (.toml or .json)' } as const;

/** The OAuth code loads only for `auth` (the SDK's auth module and the token store). */
const modules = async () => {
  const [{ TokenStore }, { login }] = await Promise.all([import('../../auth/store.ts'), import('../../auth/login.ts')]);
  return { store: new TokenStore(), login };
};

export const authCommand: CommandModule = {
  command: 'auth <command>',
  describe: 'Log in to remote servers that use OAuth, and see or forget their tokens',
  builder: (y) =>
    y
      .command<Args>({
        command: 'login <server>',
        describe: 'Authorize mcpg in the browser for an HTTP server; tokens are stored encrypted, per server',
        builder: (yy) => yy.positional('server', { type: 'string', demandOption: true }).option('config', configOption),
        handler: async (args) => {
          const server = httpServer(args);
          const { store, login } = await modules();
          const { serverFetch } = await import('../../proxy/remote.ts');
          const record = await login(server, store, { say: note, fetchFn: serverFetch(server) });
          const scope = record.tokens?.scope ? ` (scope ${record.tokens.scope})` : '';
          out(`server "${server.name}": logged in${scope}`);
        },
      })
      .command<{ config?: string }>({
        command: 'status',
        describe: 'List the servers mcpg holds tokens for, and whether they still hold',
        builder: (yy) => yy.option('config', { ...configOption, default: undefined, describe: 'show this config\'s HTTP servers, logged in or not' }),
        handler: async (args) => {
          const { store } = await modules();
          const records = store.all();
          const named = args.config ? loadConfig(args.config).servers.filter((s): s is HttpServer => 'url' in s) : [];
          const rows: AuthRecord[] = [...records, ...named.filter((s) => !records.some((r) => r.server === s.name && r.url === s.url)).map((s) => ({ server: s.name, url: s.url }))];
          if (!rows.length) return out(`no tokens stored (in ${store.dir})`);
          out(
            rows
              .map((r) => {
                const { server, url } = r;
                const state = !r.tokens
                  ? `not logged in: run \`mcpg auth login ${server}\``
                  : r.expiresAt && r.expiresAt < Date.now()
                    ? r.tokens.refresh_token
                      ? 'access token expired; it is refreshed on next use'
                      : `expired: run \`mcpg auth login ${server}\``
                    : `logged in${r.expiresAt ? `, access token valid until ${new Date(r.expiresAt).toISOString()}` : ''}`;
                return `${server} ${url}: ${state}${r.tokens?.scope ? ` (scope ${r.tokens.scope})` : ''}`;
              })
              .join('\n'),
          );
        },
      })
      .command<Args>({
        command: 'logout <server>',
        describe: "Forget an HTTP server's tokens and client registration",
        builder: (yy) => yy.positional('server', { type: 'string', demandOption: true }).option('config', configOption),
        handler: async (args) => {
          const server = httpServer(args);
          const { store } = await modules();
          out(store.delete(server.name, server.url) ? `server "${server.name}": logged out` : `server "${server.name}": no tokens were stored`);
        },
      })
      .demandCommand(1),
  handler: () => {},
};
