import { isDollarTopic } from '@fluxmq/topic'

class TrieNode<T> {
  children: Map<string, TrieNode<T>> | undefined
  plus: TrieNode<T> | undefined
  hash: TrieNode<T> | undefined
  values: Set<T> | undefined

  isEmpty(): boolean {
    return (
      (this.values === undefined || this.values.size === 0) &&
      (this.children === undefined || this.children.size === 0) &&
      this.plus === undefined &&
      this.hash === undefined
    )
  }
}

/**
 * Topic filters (with `+` and `#`) mapped to values, matched against topic names. `+` and `#`
 * children sit in their own fields so matching a level costs one Map lookup plus two field reads.
 * Filters must be valid (`validateTopicFilter` of @fluxmq/topic) and not shared: the router strips `$share/<group>/`.
 */
export class TopicTrie<T> {
  private readonly root = new TrieNode<T>()
  private count = 0

  /** Number of (filter, value) pairs stored. */
  get size(): number {
    return this.count
  }

  /** Adds a value under a filter; false when that exact pair was already there. */
  add(filter: string, value: T): boolean {
    let node = this.root
    for (const level of filter.split('/')) node = child(node, level)
    node.values ??= new Set()
    if (node.values.has(value)) return false
    node.values.add(value)
    this.count++
    return true
  }

  /** Removes a value from a filter, pruning emptied nodes; false when it was not there. */
  delete(filter: string, value: T): boolean {
    const levels = filter.split('/')
    const path: TrieNode<T>[] = [this.root]
    let node: TrieNode<T> | undefined = this.root
    for (const level of levels) {
      node = next(node, level)
      if (node === undefined) return false
      path.push(node)
    }
    if (node.values?.delete(value) !== true) return false
    this.count--
    for (let i = levels.length; i > 0; i--) {
      const n = path[i] as TrieNode<T>
      if (!n.isEmpty()) break
      unlink(path[i - 1] as TrieNode<T>, levels[i - 1] as string)
    }
    return true
  }

  /** Values stored under exactly this filter (no wildcard matching). */
  get(filter: string): ReadonlySet<T> | undefined {
    let node: TrieNode<T> | undefined = this.root
    for (const level of filter.split('/')) {
      node = next(node, level)
      if (node === undefined) return undefined
    }
    return node.values
  }

  /**
   * Appends every value whose filter matches `topic` to `out` and returns it. A value stored
   * under several matching filters appears once per filter; the caller merges.
   */
  match(topic: string, out: T[]): T[] {
    const levels = topic.split('/')
    // [MQTT-4.7.2-1] Wildcards at the first level MUST NOT match topics beginning with '$'.
    const dollar = isDollarTopic(topic)
    const root = this.root
    if (!dollar) {
      if (root.hash !== undefined) collect(root.hash, out)
      if (root.plus !== undefined) matchFrom(root.plus, levels, 1, out)
    }
    const first = root.children?.get(levels[0] as string)
    if (first !== undefined) matchFrom(first, levels, 1, out)
    return out
  }
}

function matchFrom<T>(node: TrieNode<T>, levels: readonly string[], i: number, out: T[]): void {
  if (i === levels.length) {
    collect(node, out)
    // [MQTT-4.7.1-2] "sport/#" also matches "sport": '#' includes the parent level.
    if (node.hash !== undefined) collect(node.hash, out)
    return
  }
  if (node.hash !== undefined) collect(node.hash, out)
  if (node.plus !== undefined) matchFrom(node.plus, levels, i + 1, out)
  const c = node.children?.get(levels[i] as string)
  if (c !== undefined) matchFrom(c, levels, i + 1, out)
}

function collect<T>(node: TrieNode<T>, out: T[]): void {
  if (node.values === undefined) return
  for (const v of node.values) out.push(v)
}

function next<T>(node: TrieNode<T>, level: string): TrieNode<T> | undefined {
  if (level === '+') return node.plus
  if (level === '#') return node.hash
  return node.children?.get(level)
}

function child<T>(node: TrieNode<T>, level: string): TrieNode<T> {
  const found = next(node, level)
  if (found !== undefined) return found
  const created = new TrieNode<T>()
  if (level === '+') node.plus = created
  else if (level === '#') node.hash = created
  else (node.children ??= new Map()).set(level, created)
  return created
}

function unlink<T>(node: TrieNode<T>, level: string): void {
  if (level === '+') node.plus = undefined
  else if (level === '#') node.hash = undefined
  else node.children?.delete(level)
}
