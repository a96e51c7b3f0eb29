#!/usr/bin/env node
// The `fluxmq` command. It lives outside dist/ so that the package manager can link it at install
// time, before anything is built (a bin pointing into dist/ made every fresh `pnpm install` warn
// "Failed to create bin"); it loads the compiled command, or says how to build it.
const entry = new URL('../dist/bin.js', import.meta.url)
try {
  await import(entry.href)
} catch (error) {
  if (error?.code !== 'ERR_MODULE_NOT_FOUND' || !String(error.message).includes(entry.pathname)) throw error
  process.stderr.write('fluxmq: not built yet: run "pnpm build" (or "pnpm fluxmq ...") in the FluxMQ repository\n')
  process.exitCode = 1
}
