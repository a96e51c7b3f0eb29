// The repository's rules, plus the Node globals these plain .mjs scripts use (TypeScript
// packages get them from @types/node instead).
import root from '../eslint.config.js'

const node = ['console', 'process', 'URL', 'performance', 'Buffer', 'setTimeout', 'clearTimeout', 'fetch', 'AbortSignal']

export default [...root, { files: ['**/*.mjs'], languageOptions: { globals: Object.fromEntries(node.map((name) => [name, 'readonly'])) } }]
