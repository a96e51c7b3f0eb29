import type { CarriedDelivery, Message, TransferredSession } from '@fluxmq/core'

/** How a forwarded publish travels besides its content (in the packed encoding of a batch, packed.ts). */
export interface ForwardRouting {
  /** Nodes besides sender and receiver that route this publish themselves. */
  readonly otherNodes?: readonly string[]
  /** The sender surrendered this client's session to the receiver and relays a publish for it: deliver to that session only. */
  readonly relayFor?: string
  /**
   * With `relayFor`, when the receiver forwarded this publish to the sender in the first place:
   * the receiver's `InboundBatch.arrivals` of that batch, echoed. The receiver routed the publish
   * to the session itself when the session had arrived there by then.
   */
  readonly arrivals?: number
  /**
   * With `relayFor`, from a node that hands on what it had unsettled for that client (it returned
   * with its data): the delivery as it went out there, so the owner resends it under the same id.
   */
  readonly carried?: CarriedDelivery
  /**
   * With `relayFor`, when a third node forwarded the publish to the relaying node and to the
   * receiver both: that node, and its routing sequence of the publish (InboundBatch.seqs). The
   * receiver routed the publish to the session itself unless it had applied it before the session
   * arrived there.
   */
  readonly origin?: { readonly node: string; readonly seq: number }
  /**
   * The sender sends again a publish that nobody else would send again (a will) and that the
   * `refusedBy` nodes refused (certainly not applied there): the sessions those nodes served then
   * may be anywhere now. Offered only to sessions that came here from one of them lately and have
   * not had it here: when `applied` (the receiver accepted it before, under this routing
   * sequence), those that arrived after it was applied.
   */
  readonly resend?: { readonly refusedBy: readonly string[]; readonly applied: boolean }
}

/** Publishes another node forwarded here, one batch of the sender's stream. */
export interface InboundBatch {
  /** The sender's node id. */
  readonly from: string
  /** In the sender's order; match them against local subscriptions only, never forward them again. */
  readonly messages: readonly Message[]
  /** Index-aligned with `messages`; absent when no message of the batch carries any. */
  readonly routing?: readonly (ForwardRouting | undefined)[]
  /**
   * How many sessions had begun to be routed at the sender when it routed these messages (a
   * counter of its own; 0 from a sender that sent protobuf messages). Echoed in a relay back to
   * the sender, it tells whether the sender routed a publish to a session that moved there.
   */
  readonly arrivals: number
  /**
   * Index-aligned with `messages`: the sender's routing sequence of each (a counter of its own,
   * the same for every node it forwarded the publish to; increasing in the order it routed them).
   * Absent from a sender that sent protobuf messages.
   */
  readonly seqs?: readonly number[]
}

export interface TakeoverRequest {
  readonly clientId: string
  /** The node that won the session's ownership and asks for its state. */
  readonly requesterNode: string
  /** The requester's ownership epoch. */
  readonly epoch: number
}

export interface SurrenderedSession {
  readonly transferred: TransferredSession
  /** The epoch under which this node held the session. */
  readonly epoch: number
}

/**
 * The previous owner holds no state of the session because it lost every session with its node
 * lease, having routed up to `routedUpTo` (its routing sequence, InboundBatch.seqs): what it
 * forwarded up to there is stale.
 */
export interface LostSession {
  readonly lost: true
  readonly routedUpTo: number
}

export type PayloadKind = 'retained' | 'will'

export interface PayloadRequest {
  readonly kind: PayloadKind
  /** The topic of a retained message, the client id of a will. */
  readonly key: string
}

/**
 * What a transport server calls for inbound requests: the local broker's side of the data plane.
 * A handler refuses by throwing; an error with a `code: 'FLUXMQ_ERR_…'` property reaches the
 * caller as `TransportError(Rejected)` with that code in `remoteCode`.
 */
export interface InboundHandlers {
  /**
   * A forwarded batch. Called in the sender's order, at most once per idempotency key while the
   * key is in the receiver's dedup window (a batch resent after a lost acknowledgement is answered
   * from the window). The sender's `forward` promise resolves when this resolves: resolve once the
   * batch is accepted as far as the acknowledgement must promise (e.g. staged and durable).
   * Acknowledgements are sent in order, and a batch that has not resolved holds back the credit
   * of the stream, which is how a slow receiver slows its senders.
   */
  publishBatch(batch: InboundBatch): Promise<void> | void
  /**
   * Another node took the session over: disconnect the client here (0x8E) and return its state;
   * undefined when this node holds no session of that client. A repeated request with the same
   * client id and epoch within the server's takeover memory is answered with the same state
   * without calling this again, so a requester may retry after a broken stream.
   */
  takeOver(request: TakeoverRequest): Promise<SurrenderedSession | LostSession | undefined>
  /** The whole retained message or will this node holds for the key; undefined when it holds none. */
  fetchPayload(request: PayloadRequest): Promise<Message | undefined> | Message | undefined
}
