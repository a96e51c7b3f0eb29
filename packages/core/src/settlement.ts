/**
 * How a delivery target settles a delivery (AMQP's four outcomes, which every plane maps onto):
 *
 * - `accepted`: processed. A topic delivery is done; a queue delivery is acknowledged.
 * - `rejected`: the target refuses the message. A topic delivery is done (nobody else could take
 *   that subscriber's copy); a queue delivery goes to the dead-letter queue.
 * - `released`: not processed, give it to someone else. A topic delivery is done (a subscription
 *   has no one else); a queue delivery returns at once, its delivery count unchanged.
 * - `modified`: not processed, failed. As `released` for a topic delivery; a queue delivery
 *   returns after its backoff with its delivery count raised (nack).
 *
 * See README, "Delivery under credit, settlement by outcome".
 */
export type Outcome = 'accepted' | 'released' | 'rejected' | 'modified'
