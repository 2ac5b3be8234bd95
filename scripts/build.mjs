// Bundles src/main.ts into one CommonJS file: the npm `bin` and the input of the single executable.
import { build } from 'esbuild';

await build({
  entryPoints: ['src/main.ts'],
  outfile: 'dist/mcpg.cjs',
  bundle: true,
  platform: 'node',
  target: 'node24',
  format: 'cjs',
  // ESM dependencies (yargs) read import.meta.url, which a CommonJS bundle lacks.
  banner: { js: "#!/usr/bin/env node\nconst __importMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
  define: { 'import.meta.url': '__importMetaUrl' },
  legalComments: 'none',
  logLevel: 'warning',
});
