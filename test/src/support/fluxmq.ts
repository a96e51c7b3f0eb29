import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { afterAll } from 'vitest'
import { Cleanup, openClient, startFluxmq } from '@fluxmq/testing'
import type { OpenedClient, StartOptions, StartedFluxmq } from '@fluxmq/testing'
import type { IClientOptions } from 'mqtt'

/** The package.json of @fluxmq/broker, found upwards from the module its exports map names. */
function brokerPackageDir(): string {
  let dir = dirname(createRequire(import.meta.url).resolve('@fluxmq/broker'))
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir)
    if (parent === dir) throw new Error('@fluxmq/broker has no package.json above its main module')
    dir = parent
  }
  return dir
}

/** The `fluxmq` bin that @fluxmq/broker declares: the built command, as `npm i -g` would install it. */
export const FLUXMQ_BIN: string = (() => {
  const dir = brokerPackageDir()
  const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { bin?: Record<string, string> }
  const bin = manifest.bin?.fluxmq
  if (bin === undefined) throw new Error(`${dir}/package.json declares no fluxmq bin`)
  return join(dir, bin)
})()

/**
 * One test's resources: every broker it starts is SIGKILLed and every client force-closed by
 * `cleanup.run()` (tests that check a clean shutdown stop the broker themselves first).
 */
export class Scene {
  readonly cleanup = new Cleanup()

  async broker(args: readonly string[] = [], options: Omit<StartOptions, 'bin' | 'args'> = {}): Promise<StartedFluxmq> {
    const started = await startFluxmq({ ...options, bin: FLUXMQ_BIN, args })
    this.cleanup.defer(() => started.process.stop('SIGKILL'))
    return started
  }

  async client(url: string, options: IClientOptions = {}): Promise<OpenedClient> {
    const opened = await openClient(url, options)
    this.cleanup.defer(() => opened.client.endAsync(true))
    return opened
  }

  tempDir(): string {
    return this.cleanup.tempDir('fluxmq-e2e-')
  }
}

/**
 * A Scene the tests of the enclosing describe block (or file) share, cleaned up after the last
 * of them; the time allowed covers stopping cluster nodes one after the other.
 */
export function sceneForTests(): Scene {
  const scene = new Scene()
  afterAll(() => scene.cleanup.run(), 60_000)
  return scene
}
