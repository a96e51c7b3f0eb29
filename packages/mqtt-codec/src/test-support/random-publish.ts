import type { PublishFields, PublishProperties } from '../publish-encode.js'
import type { Random } from './random.js'

/** A random valid PUBLISH, properties in a random order, as a broker might send it. */
export function randomPublish(random: Random, withProperties: boolean): PublishFields {
  const qos = random.pick([0, 1, 2] as const)
  const fields: PublishFields = {
    topic: random.text(40) || 't',
    payload: random.bytes(random.pick([0, 1, 10, 127, 128, 300, 16_383, 16_384, 70_000])),
    qos,
    retain: random.bool(),
    dup: random.bool(),
  }
  if (qos > 0) fields.packetId = random.int(1, 0xffff)
  if (withProperties && random.bool(0.8)) fields.properties = randomProperties(random)
  return fields
}

function randomProperties(random: Random): PublishProperties {
  const makers: Array<[string, () => unknown]> = [
    ['payloadFormatIndicator', () => random.bool()],
    ['messageExpiryInterval', () => random.pick([0, 1, 0xffffffff, random.int(0, 0xffffffff)])],
    ['topicAlias', () => random.int(1, 0xffff)],
    ['responseTopic', () => random.text(20)],
    ['correlationData', () => (random.bool(0.8) ? random.bytes(random.int(0, 40)) : random.text(10))],
    ['contentType', () => random.text(20)],
    ['subscriptionIdentifier', () => (random.bool() ? random.pick([1, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, 268_435_455]) : [random.int(1, 1000), random.int(1, 268_435_455)])],
    [
      'userProperties',
      () => {
        const pairs: Record<string, string | string[]> = {}
        const count = random.int(1, 4)
        for (let i = 0; i < count; i++) pairs[random.text(8) || `k${i}`] = random.bool(0.7) ? random.text(12) : [random.text(5), random.text(5)]
        return pairs
      },
    ],
  ]
  const properties: Record<string, unknown> = {}
  for (const [name, make] of makers.sort(() => random.next() - 0.5)) {
    if (random.bool(0.6)) properties[name] = make()
  }
  return properties as PublishProperties
}
