// Child process for the crash test: appends numbered messages to queue "crash" while a consumer
// acknowledges every even offset and leaves the odd ones unsettled. Prints "A <n>" once append n
// is durable and "K <offset>" once the ack of that offset is committed, until the parent kills
// it with SIGKILL.
import { Buffer } from 'node:buffer'
import process from 'node:process'
import { QueueEngine } from '../../dist/index.js'

const [dir, sync] = process.argv.slice(2)
let acked = []
const engine = QueueEngine.open({
  dir,
  sync,
  clock: { now: () => Date.now() },
  deliver: (delivery) => {
    if (delivery.offset % 2 === 0) {
      engine.settle(delivery.consumerId, delivery.deliveryId, 'accepted')
      acked.push(delivery.offset)
    }
  },
})
engine.attach({ consumerId: 'c', queue: 'crash', group: 'g' })
engine.grant('c', 1_000_000_000)
for (let i = 0; ; i++) {
  engine.append('crash', {
    topic: `crash/${i}`,
    payload: Buffer.from(String(i)),
    qos: 1,
    retain: false,
    properties: { userProperties: [['n', String(i)]] },
    publishedAt: Date.now(),
  })
  if (i % 7 === 6) {
    const committedAcks = acked
    acked = []
    await engine.durable()
    process.stdout.write(`A ${i}\n${committedAcks.map((offset) => `K ${offset}\n`).join('')}`)
  }
}
