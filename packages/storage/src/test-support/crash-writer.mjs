// Child process for the crash test: appends numbered QoS 1 messages to one offline session and
// reports on stdout each number whose sync() resolved, until the parent kills it with SIGKILL.
// Every 11th message is too large for a segment (a shared message row), so the queue the parent
// reads back merges both kinds of entry.
import { Buffer } from 'node:buffer'
import process from 'node:process'
import { SqliteStorage } from '../../dist/index.js'

const [dir, sync] = process.argv.slice(2)
const storage = new SqliteStorage({ dir, sync })
await storage.open()
storage.putSession({ clientId: 'offline', protocol: 'mqtt5', expiryInterval: 0xffffffff, disconnectedAt: Date.now() })
for (let i = 0; ; i++) {
  const message = {
    topic: `crash/${i}`,
    payload: i % 11 === 10 ? Buffer.alloc(5000, i % 256) : Buffer.from(String(i)),
    qos: 1,
    retain: false,
    properties: {},
    publishedAt: Date.now(),
  }
  storage.appendOffline('offline', message)
  if (i % 7 === 6) {
    await storage.sync()
    process.stdout.write(`${i}\n`)
  }
}
