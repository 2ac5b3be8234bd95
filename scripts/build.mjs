// Bundles src/main.ts into one CommonJS file: the npm `bin` and the input of the single executable.
import { dirname, join } from 'node:path';
import { build } from 'esbuild';

// zod re-exports its 40-odd locales as a namespace, and evaluating them is a tenth of a config
// check's start-up; mcpg's messages are its own, in English: the namespace holds English only.
const englishOnly = {
  name: 'zod-english-only',
  setup(b) {
    b.onResolve({ filter: /\/locales\/index\.js$/ }, (args) => (/[\\/]zod[\\/]/.test(args.importer) ? { path: join(dirname(args.importer), args.path), namespace: 'zod-locales' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'zod-locales' }, (args) => ({ contents: `export { default as en } from ${JSON.stringify(join(dirname(args.path), 'en.js'))};`, loader: 'js', resolveDir: dirname(args.path) }));
  },
};

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
  plugins: [englishOnly],
  logLevel: 'warning',
});
