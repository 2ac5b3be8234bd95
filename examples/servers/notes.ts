// A notes MCP server for the demo: the agent's output channel.
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { z } from 'zod';

const notes: string[] = [];
const server = new McpServer({ name: 'notes-demo', version: '1.0.0' });
server.registerTool('post_note', { description: 'Publish a note', inputSchema: { text: z.string() } }, async ({ text }) => {
  notes.push(text);
  return { content: [{ type: 'text', text: `posted note #${notes.length}` }] };
});
await server.connect(new StdioServerTransport());
