import { stringify } from 'yaml'
import { configSchema } from './schema.js'
import type { FluxConfig } from './schema.js'
import { formatTree } from './section.js'
import type { MutableTree } from './section.js'

const REDACTED = '<redacted>'

/** The effective configuration as YAML an operator could load again, with secrets redacted. */
export function renderConfig(config: FluxConfig): string {
  const tree = formatTree(configSchema, config as unknown as MutableTree)
  const http = (tree.server as MutableTree).http as MutableTree
  if (http.token !== '') http.token = REDACTED
  return stringify(tree, { lineWidth: 0 })
}
