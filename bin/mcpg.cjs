#!/usr/bin/env node
// The npm package's entry (`npx -y mcpg …`). mcpg runs guards with WebAssembly JSPI, which needs
// Node.js 24: on an older Node, say so in one line instead of failing somewhere inside.
'use strict';
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(
    `mcpg: needs Node.js 24 or newer (this is ${process.version}); the single executable needs no Node.js: https://github.com/mcpg-dev/mcpg/releases\n`,
  );
  process.exit(2);
}
require('../dist/mcpg.cjs');
