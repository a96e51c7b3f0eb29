// FluxMQ's own count of the messages it dropped, read from /metrics at the end of a flood: a QoS 0
// loss the generator sees must show there too.

export const DROPPED_METRIC = 'fluxmq_messages_dropped_total'
const SAMPLE = new RegExp(`^${DROPPED_METRIC}(?:\\{([^}]*)\\})?\\s+(\\S+)`)

/**
 * The `fluxmq_messages_dropped_total` samples of a Prometheus text exposition: { total, byReason },
 * byReason null when no sample has a `reason` label (a broker from before that label). Null when
 * the metric is absent.
 */
export function droppedMessages(text) {
  let total = 0
  let byReason = null
  let found = false
  for (const line of text.split('\n')) {
    const match = SAMPLE.exec(line)
    if (!match) continue
    found = true
    const value = Number(match[2])
    total += value
    const reason = /(?:^|,)\s*reason="((?:[^"\\]|\\.)*)"/.exec(match[1] ?? '')?.[1]
    if (reason !== undefined) byReason = { ...byReason, [reason]: (byReason?.[reason] ?? 0) + value }
  }
  return found ? { total, byReason } : null
}

/** Scrapes `http://127.0.0.1:<port>/metrics`; null when the metric is absent or the scrape fails. */
export async function scrapeDropped(port) {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5000) })
    return response.ok ? droppedMessages(await response.text()) : null
  } catch {
    return null
  }
}
