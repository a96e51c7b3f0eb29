import type { BrokerStats } from './api.js'

/** The counters mosquitto publishes moving averages of, under `$SYS/broker/load/<name>/<window>`. */
const SOURCES: readonly (readonly [name: string, counter: (s: BrokerStats) => number])[] = [
  ['connections', (s) => s.connectionsTotal],
  ['bytes/received', (s) => s.bytesReceived],
  ['bytes/sent', (s) => s.bytesSent],
  ['publish/received', (s) => s.messagesReceived],
  ['publish/sent', (s) => s.messagesSent],
  ['publish/dropped', (s) => s.messagesDropped],
]

const WINDOWS: readonly (readonly [name: string, seconds: number])[] = [
  ['1min', 60],
  ['5min', 300],
  ['15min', 900],
]

interface Series {
  readonly counter: (s: BrokerStats) => number
  last: number
  /** One per window: the topic and the current average. */
  readonly averages: { readonly topic: string; readonly seconds: number; value: number }[]
}

/**
 * `$SYS/broker/load/…`: per-minute rates of the broker's counters as exponentially damped moving
 * averages over 1, 5 and 15 minutes, computed as mosquitto does (sys_tree.c): at each update the
 * rate since the previous one, `Δcount × 60 / Δt`, is blended in with weight `1 − e^(−Δt / window)`.
 */
export class SysLoad {
  private readonly series: Series[] = SOURCES.map(([name, counter]) => ({
    counter,
    last: 0,
    averages: WINDOWS.map(([window, seconds]) => ({ topic: `$SYS/broker/load/${name}/${window}`, seconds, value: 0 })),
  }))
  private lastAt = 0

  /** Counts from here (the broker started). */
  start(stats: BrokerStats, now: number): void {
    this.lastAt = now
    for (const s of this.series) s.last = s.counter(stats)
  }

  update(stats: BrokerStats, now: number): void {
    const elapsed = (now - this.lastAt) / 1000
    if (elapsed <= 0) return
    this.lastAt = now
    for (const s of this.series) {
      const value = s.counter(stats)
      const perMinute = ((value - s.last) * 60) / elapsed
      s.last = value
      for (const a of s.averages) {
        const exponent = Math.exp(-elapsed / a.seconds)
        a.value = exponent * a.value + (1 - exponent) * perMinute
      }
    }
  }

  /** `[topic, value]` pairs, values with two decimals as mosquitto prints them. */
  topics(): [topic: string, value: string][] {
    return this.series.flatMap((s) => s.averages.map((a): [string, string] => [a.topic, a.value.toFixed(2)]))
  }
}
