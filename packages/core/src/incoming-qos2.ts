/**
 * The ids of a session's incoming two-phase (QoS 2) messages [MQTT-4.3.3]: received and awaiting
 * release (PUBREL), and the last released ones, oldest first, so a release repeated after a lost
 * completion is recognised (see Session.releaseIncoming). State only: the session writes it to
 * Storage. Each set is created on first use: most sessions never receive QoS 2.
 */
export class IncomingQos2 {
  private receivedIds: Set<number> | undefined
  private releasedIds: Set<number> | undefined

  get received(): ReadonlySet<number> {
    return this.receivedIds ?? NO_IDS
  }

  get released(): ReadonlySet<number> {
    return this.releasedIds ?? NO_IDS
  }

  /** [MQTT-4.3.3-10] Taken until released; a released id used again carries a new message. */
  receive(id: number): void {
    ;(this.receivedIds ??= new Set()).add(id)
    this.releasedIds?.delete(id)
  }

  /** Restores a released id (Storage, another node), oldest first. */
  restoreReleased(id: number): void {
    ;(this.releasedIds ??= new Set()).add(id)
  }

  /**
   * Releases a received id. Returns false when it was not received; else the oldest released id
   * that no longer fits in `kept` and is forgotten, or undefined.
   */
  release(id: number, kept: number): false | number | undefined {
    if (this.receivedIds?.delete(id) !== true) return false
    const released = (this.releasedIds ??= new Set())
    released.add(id)
    if (released.size <= kept) return undefined
    const oldest = released.values().next().value as number
    released.delete(oldest)
    return oldest
  }
}

const NO_IDS: ReadonlySet<number> = new Set()
