import { afterEach, describe, expect, it } from 'vitest'
import { QueueErrorCode } from './errors.js'
import { Harness, message } from './test-support/harness.js'

let h: Harness
afterEach(() => h.dispose())

describe('QueueEngine: publish', () => {
  it('appends a $queue/<name>[/<key>] publish to that queue, created on first use', () => {
    h = new Harness({ defaults: { maxDeliveries: 7 } })
    const result = h.engine.publish('$queue/jobs/high', message('$queue/jobs/high', 'j0'))
    expect(result.appended).toEqual([{ queue: 'jobs', offset: 0 }])
    h.engine.publish('$queue/jobs', message('$queue/jobs', 'j1'))
    h.commit()
    expect(h.engine.stats('jobs')).toMatchObject({ type: 'classic', declared: false, depth: 2 })
    h.engine.attach({ consumerId: 'c', queue: 'jobs' })
    h.engine.grant('c', 5)
    expect(h.takeDeliveries('c').map((delivery) => delivery.message.topic)).toEqual(['$queue/jobs/high', '$queue/jobs'])
  })

  it('captures an ordinary publish into every queue whose topics match it', () => {
    h = new Harness({
      queues: [
        { name: 'orders', topics: ['orders/#'] },
        { name: 'eu', topics: ['+/eu/#', 'billing/eu'] },
        { name: 'sys', topics: ['$SYS/#'] },
      ],
    })
    expect(h.engine.publish('orders/eu/1', message('orders/eu/1', 'o')).appended).toEqual([
      { queue: 'orders', offset: 0 },
      { queue: 'eu', offset: 0 },
    ])
    expect(h.engine.publish('billing/eu', message('billing/eu', 'b')).appended).toEqual([{ queue: 'eu', offset: 1 }])
    const none = h.engine.publish('weather/today', message('weather/today', 'w'))
    expect(none.appended).toEqual([])
    // [MQTT-4.7.2-1] a wildcard first level never matches a $ topic; a literal one does.
    expect(h.engine.captures('$SYS/broker/uptime')).toEqual(['sys'])
    expect(h.engine.captures('$queue/orders')).toEqual([])
  })

  it('refuses $queue/ with an empty or invalid name, or a settlement topic, and appends nothing', () => {
    h = new Harness()
    for (const topic of ['$queue/', '$queue//x', '$queue/a b', '$queue/ä', `$queue/${'n'.repeat(201)}`]) {
      expect(() => h.engine.publish(topic, message(topic, 'x')), topic).toThrow(expect.objectContaining({ code: QueueErrorCode.InvalidName }))
    }
    expect(() => h.engine.publish('$queue/q/$ack', message('$queue/q/$ack', 'x'))).toThrow(expect.objectContaining({ code: QueueErrorCode.ReservedTopic }))
    expect(() => h.engine.attach({ consumerId: 'c', queue: 'a+b' })).toThrow(expect.objectContaining({ code: QueueErrorCode.InvalidName }))
    expect(() => h.engine.attach({ consumerId: 'c', queue: 'q', group: 'a/b' })).toThrow(expect.objectContaining({ code: QueueErrorCode.InvalidGroup }))
    expect(h.engine.list()).toEqual([])
  })

  it('refuses a declaration with values it cannot work with', () => {
    h = new Harness()
    for (const declaration of [
      { name: 'q', topics: ['a/#/b'] },
      { name: 'q', topics: ['$share/g/a'] },
      { name: 'q', maxDeliveries: 0 },
      { name: 'q', visibilityTimeoutMs: 0 },
      { name: 'q', retention: { maxAgeMs: -1, maxMessages: 0, maxBytes: 0 } },
      { name: 'q', type: 'fifo' as 'classic' },
    ]) {
      expect(() => h.engine.declare(declaration), JSON.stringify(declaration)).toThrow(expect.objectContaining({ code: QueueErrorCode.InvalidDefinition }))
    }
    expect(() => h.engine.declare({ name: '' })).toThrow(expect.objectContaining({ code: QueueErrorCode.InvalidName }))
  })
})
