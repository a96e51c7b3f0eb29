import { describe, expect, it } from 'vitest'
import { topFrames } from './cpuprofile.mjs'

const frame = (id, functionName, url = '', lineNumber = 0) => ({ id, callFrame: { functionName, url, lineNumber, columnNumber: 0 } })

describe('topFrames', () => {
  it('ranks frames by the self time of their samples, merging nodes of the same function', () => {
    const profile = {
      nodes: [frame(1, '(root)'), frame(2, 'match', 'file:///x/topic-trie.js', 72), frame(3, 'encode'), frame(4, 'match', 'file:///x/topic-trie.js', 72)],
      samples: [2, 3, 4, 2, 1],
      timeDeltas: [100, 50, 300, 100, 450],
    }
    expect(topFrames(profile, 2)).toEqual([
      { frame: 'match /x/topic-trie.js:73', selfMs: 0.5, percent: 50 },
      { frame: '(root)', selfMs: 0.45, percent: 45 },
    ])
  })
})
