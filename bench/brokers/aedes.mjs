// Aedes as the bench runs it: default in-memory persistence, one TCP listener on loopback.
//   node brokers/aedes.mjs <port>
import { createServer } from 'node:net'
import { Aedes } from 'aedes'

const port = Number(process.argv[2])
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node brokers/aedes.mjs <port>')
  process.exit(2)
}

const broker = await Aedes.createBroker()
const server = createServer(broker.handle)
server.listen(port, '127.0.0.1')

function stop() {
  server.close()
  broker.close(() => process.exit(0))
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
