#!/usr/bin/env node
// The AMQP ceiling: `node amqp-sink.mjs PORT`. A rhea server that grants credit, accepts every
// transfer and keeps nothing, so the generator's publishing side runs against the cheapest peer
// there is in the same library.
import rhea from 'rhea'
import { corkWrites } from '../amqp/cork.mjs'

const port = Number(process.argv[2])
const container = rhea.create_container({ id: 'amqp-sink' })
container.sasl_server_mechanisms.enable_anonymous()
// A client going away is the end of a run, not news (rhea logs it unless someone listens).
container.on('disconnected', () => {})
container.on('connection_open', (context) => corkWrites(context.connection.socket))
container.on('sender_open', (context) => context.sender.close())
container.listen({ host: '127.0.0.1', port, tcp_no_delay: true })
process.on('SIGTERM', () => process.exit(0))
