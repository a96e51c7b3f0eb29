import { Peer, type PeerOptions, type PeerState } from './peer.js'

/** A node of the cluster as the metadata plane lists it (`nodes/<node>` in etcd). */
export interface PeerAddress {
  readonly nodeId: string
  /** Its transport advertise address, `host:port`. */
  readonly address: string
}

export type PeerSetOptions = Omit<PeerOptions, 'peerNode' | 'address'>

/**
 * One Peer per other node, kept in step with the membership the metadata plane reports: there is
 * no static peer list. Every Peer shares the options (TLS, limits, logger) given here.
 */
export class PeerSet {
  private readonly peers = new Map<string, { readonly address: string; readonly peer: Peer }>()
  private closed = false
  private fencedUpTo = 0

  constructor(private readonly options: PeerSetOptions) {}

  /**
   * Routing sequences up to `upTo` were decided under a lease this node lost: no Peer, now or
   * later, sends a batch holding one (PeerForwarder.fence).
   */
  fence(upTo: number): void {
    this.fencedUpTo = Math.max(this.fencedUpTo, upTo)
    for (const { peer } of this.peers.values()) peer.fence(upTo)
  }

  /**
   * Makes the set match `members`, this node excluded: new nodes get a Peer, nodes no longer
   * listed have theirs closed (what was pending to them rejects with Closed), and a node whose
   * address changed gets a fresh Peer on the new address.
   */
  update(members: readonly PeerAddress[]): void {
    if (this.closed) return
    const wanted = new Map(members.filter((m) => m.nodeId !== this.options.localNode).map((m) => [m.nodeId, m.address]))
    for (const [nodeId, { address, peer }] of this.peers) {
      if (wanted.get(nodeId) === address) continue
      peer.close()
      this.peers.delete(nodeId)
    }
    for (const [nodeId, address] of wanted) {
      if (this.peers.has(nodeId)) continue
      this.peers.set(nodeId, { address, peer: new Peer({ ...this.options, peerNode: nodeId, address, fencedUpTo: this.fencedUpTo }) })
    }
  }

  get(nodeId: string): Peer | undefined {
    return this.peers.get(nodeId)?.peer
  }

  get states(): PeerState[] {
    return [...this.peers.values()].map(({ peer }) => peer.state)
  }

  close(): void {
    this.closed = true
    for (const { peer } of this.peers.values()) peer.close()
    this.peers.clear()
  }
}
