import { spawnFluxmq } from './process.js'
import type { FluxmqProcess, SpawnOptions } from './process.js'

/**
 * Every listener on 127.0.0.1 port 0, AMQP off (not in this build). Later `--set` arguments win,
 * so a test's own arguments come after these.
 */
export const LOOPBACK_ARGS: readonly string[] = [
  '--set',
  'server.mqtt.tcp.addr=127.0.0.1:0',
  '--set',
  'server.mqtt.websocket.addr=127.0.0.1:0',
  '--set',
  'server.http.addr=127.0.0.1:0',
  '--set',
  'server.amqp.addr=',
]

/** `['--set', 'a=1', '--set', 'b=2']` from `{ a: 1, b: 2 }`. */
export function setArgs(settings: Readonly<Record<string, string | number | boolean>>): string[] {
  return Object.entries(settings).flatMap(([key, value]) => ['--set', `${key}=${String(value)}`])
}

export interface StartOptions extends SpawnOptions {
  /** How long start-up may take until the "fluxmq started" line (default 15 s). */
  readonly startTimeoutMs?: number
  /** False: the arguments are used as given, without LOOPBACK_ARGS in front. */
  readonly loopback?: boolean
}

/** The started process and where to reach it. */
export interface StartedFluxmq {
  readonly process: FluxmqProcess
  readonly mqttUrl: string
  readonly wsUrl: string
  readonly httpUrl: string
}

function urlsOf(child: FluxmqProcess): StartedFluxmq {
  const port = (name: string) => child.ports[name]
  return {
    process: child,
    mqttUrl: `mqtt://127.0.0.1:${port('mqtt-tcp') ?? 0}`,
    wsUrl: `ws://127.0.0.1:${port('mqtt-websocket') ?? 0}/mqtt`,
    httpUrl: `http://127.0.0.1:${port('http') ?? 0}`,
  }
}

/**
 * Spawns fluxmq and resolves once it logged "fluxmq started" (every listener bound). A process
 * that exits or stalls first is killed and the error carries its log and stderr.
 */
export async function startFluxmq(options: StartOptions): Promise<StartedFluxmq> {
  const args = options.loopback === false ? (options.args ?? []) : [...LOOPBACK_ARGS, ...(options.args ?? [])]
  const child = spawnFluxmq({ ...options, args })
  try {
    await child.waitForLog('fluxmq started', options.startTimeoutMs ?? 15_000)
  } catch (error) {
    await child.stop('SIGKILL')
    throw error
  }
  return urlsOf(child)
}
