import { isDollarTopic } from '@fluxmq/topic'
import type { Message } from './message.js'

class LevelNode {
  children: Map<string, LevelNode> | undefined
  message: Message | undefined
}

/**
 * Retained messages by topic, in a tree of topic levels so a subscription's filter walks only
 * the branches it can match instead of scanning every retained topic.
 */
export class RetainedStore {
  private readonly root = new LevelNode()
  private count = 0

  get size(): number {
    return this.count
  }

  get(topic: string): Message | undefined {
    let node: LevelNode | undefined = this.root
    for (const level of topic.split('/')) {
      node = node.children?.get(level)
      if (node === undefined) return undefined
    }
    return node.message
  }

  /** Stores or replaces the message for its topic [MQTT-3.3.1-5]. */
  set(message: Message): void {
    let node = this.root
    for (const level of message.topic.split('/')) {
      node.children ??= new Map()
      let c = node.children.get(level)
      if (c === undefined) {
        c = new LevelNode()
        node.children.set(level, c)
      }
      node = c
    }
    if (node.message === undefined) this.count++
    node.message = message
  }

  /** Removes the topic's message; false when there was none. */
  delete(topic: string): boolean {
    const levels = topic.split('/')
    const path: LevelNode[] = [this.root]
    let node: LevelNode | undefined = this.root
    for (const level of levels) {
      node = node.children?.get(level)
      if (node === undefined) return false
      path.push(node)
    }
    if (node.message === undefined) return false
    node.message = undefined
    this.count--
    for (let i = levels.length; i > 0; i--) {
      const n = path[i] as LevelNode
      if (n.message !== undefined || (n.children !== undefined && n.children.size > 0)) break
      ;(path[i - 1] as LevelNode).children?.delete(levels[i - 1] as string)
    }
    return true
  }

  /** Appends every retained message whose topic matches the (non-shared, valid) filter. */
  match(filter: string, out: Message[]): Message[] {
    walk(this.root, filter.split('/'), 0, out)
    return out
  }
}

function walk(node: LevelNode, levels: readonly string[], i: number, out: Message[]): void {
  if (i === levels.length) {
    if (node.message !== undefined) out.push(node.message)
    return
  }
  const level = levels[i] as string
  if (level === '#') {
    // [MQTT-4.7.1-2] '#' matches the parent level too ("a/#" matches "a").
    if (node.message !== undefined && i > 0) out.push(node.message)
    collectAll(node, i === 0, out)
    return
  }
  if (node.children === undefined) return
  if (level === '+') {
    for (const [name, c] of node.children) {
      // [MQTT-4.7.2-1] A first-level wildcard MUST NOT match topics beginning with '$'.
      if (i === 0 && isDollarTopic(name)) continue
      walk(c, levels, i + 1, out)
    }
    return
  }
  const c = node.children.get(level)
  if (c !== undefined) walk(c, levels, i + 1, out)
}

function collectAll(node: LevelNode, skipDollar: boolean, out: Message[]): void {
  if (node.children === undefined) return
  for (const [name, c] of node.children) {
    // [MQTT-4.7.2-1] A first-level '#' MUST NOT match topics beginning with '$'.
    if (skipDollar && isDollarTopic(name)) continue
    if (c.message !== undefined) out.push(c.message)
    collectAll(c, false, out)
  }
}
