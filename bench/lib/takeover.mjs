// Session takeover latency across the nodes of a cluster (issue 9): one persistent MQTT 5 session
// moves between two nodes, each move a new connection with the same client id on the other node,
// timed from CONNECT sent to CONNACK received. mqtt.js in this process: the C generator has no
// MQTT 5 and does not reconnect.
import mqtt from 'mqtt'

function connect(port, clientId) {
  return mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    protocolVersion: 5,
    clientId,
    clean: false,
    properties: { sessionExpiryInterval: 300 },
    reconnectPeriod: 0,
    connectTimeout: 10_000,
  })
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]
}

/**
 * Unmeasured moves first, one each way, as the other scenarios warm up: the first takeover after
 * the nodes start pays for the cold `TakeOver` call path (60–80 ms more on this machine, once per
 * process), which would otherwise be the p99 of every run.
 */
const WARM_UP_MOVES = 2

/** Moves one session `moves` times between `ports[0]` and `ports[1]` after the warm-up; the takeover times in µs. */
export async function measureTakeover(ports, moves, clientId) {
  let client = await connect(ports[0], clientId)
  await client.subscribeAsync('bench/takeover/#', { qos: 1 })
  const us = []
  try {
    for (let k = 1; k <= WARM_UP_MOVES + moves; k++) {
      const started = process.hrtime.bigint()
      const next = await connect(ports[k % 2], clientId)
      if (k > WARM_UP_MOVES) us.push(Number(process.hrtime.bigint() - started) / 1000)
      // The old connection was closed by its node (0x8E); release the client object.
      client.end(true)
      client = next
    }
  } finally {
    await client.endAsync(true)
  }
  const sorted = [...us].sort((a, b) => a - b)
  return { moves, takeover_us: { p50: Math.round(percentile(sorted, 50)), p99: Math.round(percentile(sorted, 99)), max: Math.round(sorted[sorted.length - 1]) } }
}
