/**
 * An independent topic matcher for randomized tests: the filter compiled to a regular
 * expression, sharing no code with the trie, the retained tree or topicMatches.
 */
export function naiveMatches(filter: string, topic: string): boolean {
  // [MQTT-4.7.2-1] first-level wildcards never match $-topics.
  if (topic.startsWith('$') && /^[+#]/.test(filter)) return false
  const literal = (l: string): string => l.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  const re = filter
    .split('/')
    .map((l, i) => (l === '#' ? (i === 0 ? '.*' : '(/.*)?') : (i === 0 ? '' : '/') + (l === '+' ? '[^/]*' : literal(l))))
    .join('')
  return new RegExp(`^${re}$`).test(topic)
}
