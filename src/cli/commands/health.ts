import type { CommandModule, Options } from 'yargs';
import { EXIT, McpgError, errorMessage } from '../../shared/errors.ts';
import { exitWithCode } from '../exit.ts';
import { note } from '../output.ts';

interface Args {
  url?: string;
}

/**
 * `mcpg health`: a container's health check (an image built from scratch has no curl). Asks a
 * `mcpg serve` for /health; exits 0 when it says it is ready, 4 when it does not or cannot be
 * reached.
 */
export const healthCommand: CommandModule<object, Args> = {
  command: 'health',
  describe: 'Ask a running mcpg serve whether it is ready (exit 0) or not (exit 4): a container health check',
  builder: {
    url: { type: 'string', describe: 'its /health URL (default: http://127.0.0.1:$MCP_GATEWAY_PORT/health, port 3000 when unset)' },
  } satisfies Record<string, Options>,
  handler: async (args) => {
    const url = args.url ?? `http://127.0.0.1:${process.env.MCP_GATEWAY_PORT || 3000}/health`;
    let status: number;
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(3_000) });
      status = res.status;
      await res.body?.cancel();
    } catch (err) {
      throw new McpgError('BACKEND_UNAVAILABLE', `${url}: ${errorMessage((err as { cause?: unknown }).cause ?? err)}`);
    }
    if (status !== 200) throw new McpgError('BACKEND_UNAVAILABLE', `${url} answered ${status}: not ready`);
    note(`mcpg: ${url}: ready`);
    exitWithCode(EXIT.ok);
  },
};
