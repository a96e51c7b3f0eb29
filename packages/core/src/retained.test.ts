import { describe, expect, it } from 'vitest'
import { RetainedStore } from './retained.js'
import { FakeClock, message, rng } from './test-support/harness.js'
import { naiveMatches } from './test-support/naive-match.js'

describe('RetainedStore', () => {
  const clock = new FakeClock()
  const store = (): RetainedStore => {
    const s = new RetainedStore()
    for (const t of ['a', 'a/b', 'a/b/c', 'a/c', 'b/x', '$SYS/up', '/lead']) s.set(message(clock, t, t))
    return s
  }
  const topics = (s: RetainedStore, f: string): string[] =>
    s
      .match(f, [])
      .map((m) => m.topic)
      .sort()

  it('matches filters with + and #', () => {
    const s = store()
    expect(topics(s, 'a/+')).toEqual(['a/b', 'a/c'])
    expect(topics(s, 'a/#')).toEqual(['a', 'a/b', 'a/b/c', 'a/c'])
    expect(topics(s, '+/+/c')).toEqual(['a/b/c'])
    expect(topics(s, '+/lead')).toEqual(['/lead'])
    expect(topics(s, 'a')).toEqual(['a'])
  })

  it('[MQTT-4.7.2-1] wildcards at the first level skip $-topics', () => {
    const s = store()
    expect(topics(s, '#')).not.toContain('$SYS/up')
    expect(topics(s, '+/up')).toEqual([])
    expect(topics(s, '$SYS/#')).toEqual(['$SYS/up'])
  })

  it('[MQTT-3.3.1-5] replaces per topic and deletes with pruning', () => {
    const s = store()
    s.set(message(clock, 'a/b', 'new'))
    expect(s.size).toBe(7)
    expect(s.get('a/b')?.payload.toString()).toBe('new')
    expect(s.delete('a/b/c')).toBe(true)
    expect(s.delete('a/b/c')).toBe(false)
    expect(s.delete('nope/x')).toBe(false)
    expect(topics(s, 'a/b/#')).toEqual(['a/b'])
    expect(s.size).toBe(6)
  })

  it('agrees with a naive matcher on random topics and filters (seeded)', () => {
    const seed = 4242
    const random = rng(seed)
    const words = ['a', 'b', '', '$x', 'c']
    const pick = (): string => words[Math.floor(random() * words.length)] as string
    const s = new RetainedStore()
    const live = new Set<string>()
    for (let i = 0; i < 400; i++) {
      const topic = Array.from({ length: 1 + Math.floor(random() * 4) }, pick).join('/')
      if (random() < 0.2) {
        expect(s.delete(topic)).toBe(live.delete(topic))
      } else {
        s.set(message(clock, topic, topic))
        live.add(topic)
      }
    }
    expect(s.size).toBe(live.size)
    for (let i = 0; i < 1000; i++) {
      const levels = Array.from({ length: 1 + Math.floor(random() * 4) }, () => (random() < 0.3 ? '+' : pick()))
      if (random() < 0.3) levels.push('#')
      const filter = levels.join('/')
      const want = [...live].filter((t) => naiveMatches(filter, t)).sort()
      expect(topics(s, filter), `seed ${seed} filter ${JSON.stringify(filter)}`).toEqual(want)
    }
  })
})
