// Shared by the AMQP generator and sink.

/**
 * rhea writes every frame with its own socket.write: corked until the end of the tick, a burst of
 * transfers and dispositions leaves in one writev, as a C client would write it.
 */
export function corkWrites(socket) {
  const write = socket.write.bind(socket)
  let corked = false
  const uncork = () => {
    corked = false
    socket.uncork()
  }
  socket.write = (...args) => {
    if (!corked) {
      corked = true
      socket.cork()
      process.nextTick(uncork)
    }
    return write(...args)
  }
}
