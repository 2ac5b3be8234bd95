// The peer proxy for the benchmark: @civic/passthrough-mcp-server's library, stdio in front,
// the echo server as its stdio backend.
import { PassthroughContext } from '@civic/passthrough-mcp-server';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';

const [command, ...args] = process.argv.slice(2);
const context = new PassthroughContext();
await context.connect(new StdioServerTransport(), new StdioClientTransport({ command, args }));
