import { ValueProblem, structuredFromText } from './leaves.js'
import type { Leaf } from './leaves.js'

/** A mapping of key names to leaves and nested sections: the shape of the YAML file. */
export interface Section {
  readonly [key: string]: Leaf<unknown> | Section
}

/** The parsed configuration a schema describes. */
export type ConfigOf<S extends Section> = {
  readonly [K in keyof S]: S[K] extends Leaf<infer T> ? T : S[K] extends Section ? ConfigOf<S[K]> : never
}

/** A config value while sources are being applied. */
export interface MutableTree {
  [key: string]: unknown
}

export function isLeaf(node: Leaf<unknown> | Section): node is Leaf<unknown> {
  return node.kind === 'leaf' && typeof node.parse === 'function'
}

export function defaultsOf<S extends Section>(section: S): ConfigOf<S> {
  return defaultTree(section) as ConfigOf<S>
}

function defaultTree(section: Section): MutableTree {
  const tree: MutableTree = {}
  for (const [key, node] of Object.entries(section)) tree[key] = isLeaf(node) ? node.default : defaultTree(node)
  return tree
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** A close sibling key for a misspelt one, if any (a few edits away, more for longer keys). */
export function suggest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined
  let bestDistance = Math.max(2, Math.floor(key.length / 4)) + 1
  for (const candidate of known) {
    const distance = editDistance(key, candidate)
    if (distance < bestDistance) {
      best = candidate
      bestDistance = distance
    }
  }
  return best
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1)
      current.push(Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, substitution))
    }
    previous = current
  }
  return previous[b.length] as number
}

function unknownKey(key: string, section: Section, subPath: string): ValueProblem {
  const near = suggest(key, Object.keys(section))
  return new ValueProblem('unknown-key', near ?? '', subPath)
}

/**
 * Applies a YAML mapping onto `tree` (which holds the section's current values): known keys are
 * parsed by their leaf, unknown keys and non-mappings are refused. Problems carry the path below
 * `section`; `null` values (an empty `tls:` line in YAML) leave the section as it is.
 */
export function applyMapping(section: Section, tree: MutableTree, raw: unknown, onLeaf?: (subPath: string) => void, prefix = ''): void {
  if (raw === null || raw === undefined) return
  if (!isMapping(raw)) throw new ValueProblem('invalid', 'a mapping of keys', prefix, raw)
  for (const [key, value] of Object.entries(raw)) {
    const node = section[key]
    const path = prefix === '' ? key : `${prefix}.${key}`
    if (node === undefined || !Object.hasOwn(section, key)) throw unknownKey(key, section, path)
    if (isLeaf(node)) {
      try {
        tree[key] = node.parse(value)
      } catch (error) {
        if (error instanceof ValueProblem) throw new ValueProblem(error.kind, error.detail, path + error.subPath, error.value)
        throw error
      }
      onLeaf?.(path)
    } else {
      applyMapping(node, tree[key] as MutableTree, value, onLeaf, path)
    }
  }
}

/** Every leaf's dotted path, with its leaf: the set of keys env variables and `--set` may name. */
export function leafPaths(section: Section, prefix = ''): Array<[string, Leaf<unknown>]> {
  const out: Array<[string, Leaf<unknown>]> = []
  for (const [key, node] of Object.entries(section)) {
    const path = prefix === '' ? key : `${prefix}.${key}`
    if (isLeaf(node)) out.push([path, node])
    else out.push(...leafPaths(node, path))
  }
  return out
}

/** The config as an operator would write it: durations, sizes and addresses back in their text form. */
export function formatTree(section: Section, tree: Readonly<MutableTree>): MutableTree {
  const out: MutableTree = {}
  for (const [key, node] of Object.entries(section)) {
    out[key] = isLeaf(node) ? node.format(tree[key]) : formatTree(node, tree[key] as MutableTree)
  }
  return out
}

/**
 * A list of objects of one shape (the `queues` key): each item starts from the item defaults,
 * `check` validates an item as a whole, `checkList` the whole list (e.g. unique names).
 */
export function objectList<S extends Section>(
  item: S,
  options: {
    readonly expected: string
    readonly check?: (value: ConfigOf<S>) => ValueProblem | undefined
    readonly checkList?: (values: readonly ConfigOf<S>[]) => ValueProblem | undefined
  },
): Leaf<readonly ConfigOf<S>[]> {
  const parse = (raw: unknown): readonly ConfigOf<S>[] => {
    const list = structuredFromText(raw, options.expected)
    if (!Array.isArray(list)) throw new ValueProblem('invalid', options.expected, '', raw)
    const values = list.map((entry: unknown, index) => {
      const tree = defaultTree(item)
      try {
        applyMapping(item, tree, entry)
        const problem = options.check?.(tree as ConfigOf<S>)
        if (problem !== undefined) throw problem
      } catch (error) {
        if (!(error instanceof ValueProblem)) throw error
        const below = error.subPath === '' ? '' : `.${error.subPath}`
        throw new ValueProblem(error.kind, error.detail, `[${index}]${below}`, error.value)
      }
      return tree as ConfigOf<S>
    })
    const problem = options.checkList?.(values)
    if (problem !== undefined) throw problem
    return values
  }
  return {
    kind: 'leaf',
    expected: options.expected,
    default: [],
    parse,
    format: (values) => values.map((value) => formatTree(item, value as MutableTree)),
  }
}
