import { fileURLToPath } from 'node:url'

/**
 * Where the full configuration reference is: this package's README (shipped with it; in the
 * repository, apps/broker/README.md), one directory above both src/ and dist/. Messages name the
 * absolute file so that it is found from any working directory and any install.
 */
export const KEY_REFERENCE = `${fileURLToPath(new URL('../README.md', import.meta.url))} (section "Keys")`
