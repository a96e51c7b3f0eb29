import type { Message } from '@fluxmq/core'
import { describe, expect, it } from 'vitest'
import { ClusterErrorCode } from './errors.js'
import { decodeMessageRecord, encodeMessageRecord } from './message-record.js'

const message: Message = {
  topic: 'a/b/ü',
  payload: Buffer.from([0, 1, 2, 255]),
  qos: 2,
  retain: true,
  publishedAt: 1_700_000_000_000,
  expiresAt: 1_700_000_060_000,
  publisherId: 'pub-1',
  properties: {
    payloadFormatIndicator: false,
    contentType: 'application/octet-stream',
    responseTopic: 'reply/here',
    correlationData: Buffer.from([9, 8, 7]),
    userProperties: [
      ['k', 'v1'],
      ['k', 'v2'],
    ],
  },
}

describe('message records', () => {
  it('keeps a payload up to the limit inline, byte for byte, with every property', () => {
    const { stored, extra } = decodeMessageRecord(encodeMessageRecord(message, 4, 'n1', { delayInterval: 5 }), 'k')
    expect(stored).toEqual({ kind: 'inline', message })
    expect(extra).toEqual({ delayInterval: 5 })
  })

  it('turns a larger payload into an index entry naming the holder, without the payload bytes', () => {
    const value = encodeMessageRecord(message, 3, 'n1')
    expect(value.includes(message.payload)).toBe(false)
    const { payload: _, ...header } = message
    expect(decodeMessageRecord(value, 'k').stored).toEqual({ kind: 'indexed', header, holder: 'n1', size: 4 })
  })

  it('rejects a value it did not write with a typed error', () => {
    expect(() => decodeMessageRecord(Buffer.from('not a record'), 'retained/x')).toThrow(expect.objectContaining({ code: ClusterErrorCode.BadRecord }))
  })
})
