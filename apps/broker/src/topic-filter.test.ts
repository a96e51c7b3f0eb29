import { describe, expect, it } from 'vitest'
import { checkTopicFilter } from './topic-filter.js'

describe('checkTopicFilter', () => {
  it.each(['a', 'a/b', '#', '+', 'a/+/c', 'a/#', '+/+', '/', '$SYS/#'])('accepts %j', (filter) => expect(checkTopicFilter(filter)).toBeUndefined())
  it.each(['', 'a#', 'a/#/b', 'a+', 'a/b+/c', '#/a', 'a\u0000b'])('refuses %j [MQTT-4.7.1-1] [MQTT-4.7.1-2] [MQTT-4.7.3-1] [MQTT-4.7.3-2]', (filter) => expect(checkTopicFilter(filter)).toBeDefined())
  it('refuses a shared filter where a plain one is expected', () => expect(checkTopicFilter('$share/g/a')).toContain('$share'))
})
