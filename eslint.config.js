// @ts-check
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.cache/**', 'registry/**/assembly/**', 'registry/sdk/assemblyscript/**', 'scripts/**/assembly/**', 'test/fixtures/**/assembly/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      // stdout is the MCP channel in `mcpg run`: output goes through src/shared/log.ts or src/cli/output.ts.
      'no-console': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  { files: ['test/**', 'scripts/**', 'examples/**'], rules: { 'no-console': 'off' } },
  // The npm entry is CommonJS on purpose: it must run (and say what it needs) on any Node.
  { files: ['bin/*.cjs'], rules: { '@typescript-eslint/no-require-imports': 'off' } },
);
