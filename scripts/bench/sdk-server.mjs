// A typical MCP server for the start benchmark: Node and the MCP SDK over stdio, two tools, as
// most servers people run are written. What start-up measures is its boot next to mcpg's.
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { z } from 'zod';

const server = new McpServer({ name: 'sdk-bench', version: '1.0.0' });
server.registerTool('get_echo', { description: 'echo', inputSchema: { message: z.string() } }, async ({ message }) => ({ content: [{ type: 'text', text: message }] }));
server.registerTool('add', { description: 'add', inputSchema: { a: z.number(), b: z.number() } }, async ({ a, b }) => ({ content: [{ type: 'text', text: String(a + b) }] }));
await server.connect(new StdioServerTransport());
