#!/usr/bin/env node
// The AMQP ceiling: `node amqp-sink.mjs PORT`. A rhea server that grants credit, accepts every
// transfer and keeps nothing, so the generator's publishing side runs against the cheapest peer
// there is in the same library.
import rhea from 'rhea'

const port = Number(process.argv[2])
const container = rhea.create_container({ id: 'amqp-sink' })
container.sasl_server_mechanisms.enable_anonymous()
container.on('sender_open', (context) => context.sender.close())
container.listen({ host: '127.0.0.1', port, tcp_no_delay: true })
process.on('SIGTERM', () => process.exit(0))
