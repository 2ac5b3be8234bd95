import { join } from 'node:path';
import type { CommandModule, Options } from 'yargs';
import { type Config, loadConfig, parseConfig } from '../../config/load.ts';
import { MODES, type Mode } from '../../config/schema.ts';
import { McpgError, errorMessage } from '../../shared/errors.ts';
import { LEVELS, type Level, configureLog } from '../../shared/log.ts';
import { exitWithCode } from '../exit.ts';
import { note, out } from '../output.ts';
import { SUPPLY_OPTIONS, type SupplyArgs, supplyFrom } from '../supply-options.ts';

interface Args extends SupplyArgs {
  listen?: string;
  unified: boolean;
  'config-stdin': boolean;
  mode?: Mode;
  'audit-log'?: string;
  'log-level': Level;
  'log-file'?: string;
  'tls-cert'?: string;
  'tls-key'?: string;
}

/** The most `--config-stdin` reads. */
const MAX_STDIN = 8 * 1024 * 1024;

export const serveCommand: CommandModule<object, Args> = {
  command: 'serve',
  describe: 'Serve MCP over streamable HTTP to many agents, each with labels of its own',
  builder: {
    ...SUPPLY_OPTIONS,
    listen: { type: 'string', describe: 'HOST:PORT to listen on (default: [gateway] listen, else 127.0.0.1:3000)' },
    unified: { type: 'boolean', default: false, describe: 'one endpoint /mcp with <server>___<tool> names, instead of /mcp/<server>' },
    'config-stdin': { type: 'boolean', default: false, describe: "read gh-aw-mcpg's JSON config on stdin; print the agents' client config on stdout" },
    mode: { type: 'string', choices: MODES, describe: 'DIFC mode, overriding [gateway] mode' },
    'audit-log': { type: 'string', describe: 'append one JSON line per DIFC decision to this file' },
    'log-level': { type: 'string', choices: LEVELS, default: 'info' satisfies Level, describe: 'diagnostics threshold' },
    'log-file': { type: 'string', describe: 'write diagnostics here instead of stderr' },
    'tls-cert': { type: 'string', describe: 'serve https with this certificate (PEM)' },
    'tls-key': { type: 'string', describe: "the certificate's private key (PEM)" },
  } satisfies Record<string, Options>,
  handler: async (args) => {
    // gh-aw-mcpg's contract: on failure, one JSON error on stdout and exit 1.
    const ghaw = args['config-stdin'];
    try {
      await serveWith(args);
    } catch (err) {
      if (!ghaw || !(err instanceof McpgError)) throw err;
      out(JSON.stringify({ error: errorMessage(err) }));
      note(`mcpg: ${errorMessage(err)}`);
      exitWithCode(1);
    }
  },
};

async function serveWith(args: Args): Promise<void> {
  configureLog({ level: args['log-level'], file: args['log-file'] });
  const env = process.env;
  const config = args['config-stdin'] ? withGatewayEnvironment(parseConfig(join(process.cwd(), 'stdin.json'), await readStdin(), env), env) : loadConfig(args.config);
  for (const w of config.warnings) note(`mcpg: warning: ${w}`);
  if ((args['tls-cert'] === undefined) !== (args['tls-key'] === undefined)) throw new McpgError('USAGE', '--tls-cert and --tls-key go together');
  const [{ GuardFactory }, { serve }] = await Promise.all([import('../../guard/load.ts'), import('../../http/serve.ts')]);
  const supply = supplyFrom({ ...args, config: config.file }, config);
  const guards = new GuardFactory(config.guards, (cfg) => supply.guardBytes(cfg), (key, make) => supply.cache.derived(key, make));
  const served = await serve({
    config,
    listen: args.listen ?? config.listen ?? '127.0.0.1:3000',
    unified: args.unified,
    domain: config.domain,
    mode: args.mode,
    auditLog: args['audit-log'],
    makeGuard: (server) => guards.make(server),
    pins: supply.lock.tools,
    ...(args['tls-cert'] && args['tls-key'] && { tls: { cert: args['tls-cert'], key: args['tls-key'] } }),
    // gh-aw-mcpg writes the agents' client config before /health answers.
    ...(args['config-stdin'] && { onListening: (url: string) => out(JSON.stringify(clientConfig(config, url, args.unified))) }),
  });
  // SIGTERM (a load balancer draining, `docker stop`): stop accepting, finish calls in flight, close.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void served.close());
  await served.closed;
  exitWithCode();
}

/**
 * gh-aw-mcpg's environment: MCP_GATEWAY_PORT, _DOMAIN, _PAYLOAD_DIR, and _API_KEY (or _AGENT_ID)
 * when the config names no agent; and mcpg's MCPG_LISTEN_HOST, the address to listen on (gh-aw-mcpg's
 * `port` alone means loopback; the container image says 0.0.0.0).
 */
export function withGatewayEnvironment(config: Config, env: NodeJS.ProcessEnv): Config {
  const port = env.MCP_GATEWAY_PORT;
  const key = env.MCP_GATEWAY_API_KEY ?? env.MCP_GATEWAY_AGENT_ID;
  const host = env.MCPG_LISTEN_HOST ?? config.listen?.replace(/:\d+$/, '') ?? '127.0.0.1';
  return {
    ...config,
    ...((port || env.MCPG_LISTEN_HOST) && { listen: `${host}:${port || config.listen?.split(':').at(-1) || 3000}` }),
    ...(env.MCP_GATEWAY_DOMAIN && { domain: env.MCP_GATEWAY_DOMAIN }),
    ...(key && !Object.keys(config.agents).length && { agents: { agent: key } }),
    ...(env.MCP_GATEWAY_PAYLOAD_DIR && { payloads: { dir: env.MCP_GATEWAY_PAYLOAD_DIR, threshold: config.payloadThreshold, pathPrefix: config.payloadPathPrefix } }),
  };
}

/** The client config gh-aw reads from stdout: each server at /mcp/<server>, with the agent's token. */
function clientConfig(config: Config, base: string, unified: boolean): object {
  const token = Object.values(config.agents)[0];
  const headers = token ? { headers: { Authorization: token } } : {};
  if (unified) return { mcpServers: { mcpg: { type: 'http', url: `${base}/mcp`, ...headers } } };
  return {
    mcpServers: Object.fromEntries(config.servers.map((s) => [s.name, { type: 'http', url: `${base}/mcp/${s.name}`, ...headers, ...(s.tools && { tools: s.tools }) }])),
  };
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_STDIN) throw new McpgError('CONFIG_READ', `stdin: the config is larger than ${MAX_STDIN} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
