import type { Logger } from '@fluxmq/core'

/** A Logger that drops every line, for tests that assert on behaviour, not on logs. */
export const silent: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined, child: () => silent }
