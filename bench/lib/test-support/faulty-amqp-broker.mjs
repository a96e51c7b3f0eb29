// A deliberately faulty AMQP broker for the AMQP generator's own tests (rhea in server mode): it
// accepts every transfer and forwards it to every receiver attached to the same address, except
// the ones `drop(n)` picks, and sends the ones `duplicate(n)` picks twice. The generator must
// count exactly those losses and duplicates.
import rhea from 'rhea'

export function startFaultyAmqpBroker({ drop = () => false, duplicate = () => false } = {}) {
  const container = rhea.create_container({ id: 'faulty-amqp-broker' })
  container.sasl_server_mechanisms.enable_anonymous()
  // A client going away is the end of a test, not news (rhea logs it unless someone listens).
  container.on('disconnected', () => {})
  const receivers = new Map()
  const stats = { published: 0, dropped: 0, duplicated: 0 }
  container.on('sender_open', (context) => {
    const address = context.sender.source?.address
    context.sender.set_source({ address })
    if (!receivers.has(address)) receivers.set(address, new Set())
    receivers.get(address).add(context.sender)
    context.sender.on('sender_close', () => receivers.get(address).delete(context.sender))
  })
  container.on('receiver_open', (context) => context.receiver.set_target({ address: context.receiver.target?.address }))
  container.on('message', (context) => {
    const n = stats.published++
    if (drop(n)) {
      stats.dropped += 1
      return
    }
    const copies = duplicate(n) ? 2 : 1
    if (copies === 2) stats.duplicated += 1
    for (const sender of receivers.get(context.receiver.target?.address) ?? []) {
      for (let i = 0; i < copies; i += 1) sender.send(context.message)
    }
  })
  const server = container.listen({ host: '127.0.0.1', port: 0, tcp_no_delay: true })
  return new Promise((resolve) => {
    server.once('listening', () =>
      resolve({
        port: server.address().port,
        stats,
        close: () => new Promise((done) => server.close(done)),
      }),
    )
  })
}
