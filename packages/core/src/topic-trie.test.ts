import { describe, expect, it } from 'vitest'
import { rng } from './test-support/harness.js'
import { naiveMatches } from './test-support/naive-match.js'
import { TopicTrie } from './topic-trie.js'

function matched(trie: TopicTrie<string>, topic: string): string[] {
  return trie.match(topic, []).sort()
}

describe('TopicTrie', () => {
  it('matches exact, + and # filters', () => {
    const t = new TopicTrie<string>()
    for (const f of ['a/b/c', 'a/+/c', 'a/#', '#', '+/b/+', 'x/y']) t.add(f, f)
    expect(matched(t, 'a/b/c')).toEqual(['#', '+/b/+', 'a/#', 'a/+/c', 'a/b/c'])
    expect(matched(t, 'x/y')).toEqual(['#', 'x/y'])
    expect(matched(t, 'q')).toEqual(['#'])
  })

  it('[MQTT-4.7.1-2] "#" also matches the parent level', () => {
    const t = new TopicTrie<string>()
    t.add('sport/tennis/#', 'f')
    expect(matched(t, 'sport/tennis')).toEqual(['f'])
    expect(matched(t, 'sport')).toEqual([])
  })

  it('[MQTT-4.7.2-1] first-level wildcards do not match $-topics', () => {
    const t = new TopicTrie<string>()
    for (const f of ['#', '+/monitor/Clients', '$SYS/#', '$SYS/monitor/+']) t.add(f, f)
    expect(matched(t, '$SYS/monitor/Clients')).toEqual(['$SYS/#', '$SYS/monitor/+'])
    expect(matched(t, 'a/monitor/Clients')).toEqual(['#', '+/monitor/Clients'])
  })

  it('keeps one value per (filter, value) and prunes on delete', () => {
    const t = new TopicTrie<string>()
    expect(t.add('a/+', 'x')).toBe(true)
    expect(t.add('a/+', 'x')).toBe(false)
    expect(t.add('a/+', 'y')).toBe(true)
    expect(t.size).toBe(2)
    expect(t.delete('a/+', 'x')).toBe(true)
    expect(t.delete('a/+', 'x')).toBe(false)
    expect(t.delete('a/b', 'y')).toBe(false)
    expect(t.get('a/+')?.size).toBe(1)
    expect(t.delete('a/+', 'y')).toBe(true)
    expect(t.get('a/+')).toBeUndefined()
    expect(t.size).toBe(0)
    expect(matched(t, 'a/b')).toEqual([])
  })

  it('agrees with a naive matcher on random filters and topics (seeded)', () => {
    const seed = 20261122
    const random = rng(seed)
    const words = ['a', 'b', 'c', '', '$SYS', 'x']
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T
    const filters = new Set<string>()
    while (filters.size < 300) {
      const n = 1 + Math.floor(random() * 4)
      const levels: string[] = []
      for (let i = 0; i < n; i++) levels.push(random() < 0.25 ? '+' : pick(words))
      if (random() < 0.3) levels.push('#')
      filters.add(levels.join('/'))
    }
    const t = new TopicTrie<string>()
    for (const f of filters) t.add(f, f)
    // Remove a third so pruning is exercised too.
    const removed = [...filters].filter(() => random() < 0.33)
    for (const f of removed) {
      expect(t.delete(f, f)).toBe(true)
      filters.delete(f)
    }
    for (let i = 0; i < 2000; i++) {
      const n = 1 + Math.floor(random() * 5)
      const topic = Array.from({ length: n }, () => pick(words)).join('/')
      const want = [...filters].filter((f) => naiveMatches(f, topic)).sort()
      expect(matched(t, topic), `seed ${seed} topic ${JSON.stringify(topic)}`).toEqual(want)
    }
  })
})
