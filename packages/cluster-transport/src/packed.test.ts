import { describe, expect, it } from 'vitest'
import type { Message } from '@fluxmq/core'
import { TransportErrorCode } from './errors.js'
import { packMessages, unpackMessages } from './packed.js'
import { fullMessage } from './test-support/nodes.js'

const bare: Message = { topic: 't', payload: Buffer.alloc(0), qos: 0, retain: false, properties: {}, publishedAt: 1 }

describe('the packed batch encoding', () => {
  it('reads back every field of every message, and no key a message did not have', () => {
    const big = { ...bare, topic: 'x'.repeat(300), payload: Buffer.alloc(70_000, 9), qos: 1 as const, properties: { payloadFormatIndicator: true } }
    const { messages, routing } = unpackMessages(packMessages([fullMessage, bare, big], undefined))
    expect(messages).toStrictEqual([fullMessage, bare, big])
    expect(routing).toBeUndefined()
  })

  it('keeps routing aligned with its messages, the arrivals of the batch and of each relay, carried deliveries and routing sequences', () => {
    const routing = [
      undefined,
      { otherNodes: ['n2', 'n3'], relayFor: 'c', arrivals: 0 },
      { relayFor: 'd' },
      { relayFor: 'e', arrivals: Date.now() * 1_000 },
      // Carried deliveries: the largest 32-bit delivery id, each flag alone.
      { relayFor: 'f', carried: { deliveryId: 0xffffffff, qos: 2 as const, retain: true, received: true } },
      { relayFor: 'g', carried: { deliveryId: 0x10001, qos: 1 as const, retain: false, received: false } },
      { relayFor: 'h', carried: { deliveryId: 0x2a0b1, qos: 2 as const, retain: false, received: false } },
      // A relay of a third node's publish, with that node's routing sequence of it.
      { relayFor: 'i', otherNodes: ['n3'], origin: { node: 'n3', seq: Date.now() * 1_000 + 17 } },
      // Resends of a will some nodes refused, to a node that had it and to one that did not.
      { resend: { refusedBy: ['n2'], applied: true } },
      { otherNodes: ['n4'], resend: { refusedBy: ['n2', 'n5'], applied: false } },
    ]
    const arrivals = Date.now() * 1_000 // as SessionMoves counts: 51 bits
    // Routing sequences as EtcdCluster counts (from the start time in µs): growing, with gaps, and
    // out of order where a send waited (a peer's memory bound, a hold).
    const base = Date.now() * 1_000
    const seqs = [base, base + 1, base + 5, base + 3, base + 3, base + 300, base + 301, base + 302, base - 40, base + 303]
    const packed = unpackMessages(packMessages([bare, fullMessage, bare, bare, bare, bare, bare, bare, fullMessage, bare], routing, arrivals, seqs))
    expect(packed.routing).toStrictEqual(routing)
    expect(packed.arrivals).toBe(arrivals)
    expect(packed.seqs).toEqual(seqs)
  })

  it('refuses a truncated batch and an impossible QoS as protocol errors', () => {
    const packed = packMessages([fullMessage], undefined)
    // Bytes 0 and 1 are the batch's arrivals and first routing sequence: cut after them, the batch
    // holds no message at all; every cut inside the message is refused.
    for (const cut of [3, 6, packed.length - 1]) {
      expect(() => unpackMessages(packed.subarray(0, cut))).toThrow(expect.objectContaining({ code: TransportErrorCode.Protocol }))
    }
    const qos3 = Buffer.from(packMessages([bare], undefined))
    // Bytes 0 and 1: arrivals and the first routing sequence (both 0); byte 2: the first message's flags.
    qos3[2] = 0x03
    expect(() => unpackMessages(qos3)).toThrow(/QoS 3/)
  })
})
