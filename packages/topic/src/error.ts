/**
 * What is wrong with a topic name or filter, in words no protocol owns: the MQTT adapter answers
 * 0x90/0x8F, the codec throws its own error, the app names the config key. `rule` is the
 * conformance statement of MQTT 5.0 (see the numbering note in README.md).
 */
export interface TopicError {
  readonly kind: TopicErrorKind
  readonly message: string
  readonly rule: string
}

export type TopicErrorKind =
  | 'empty'
  | 'too-long'
  | 'null-character'
  | 'wildcard-in-name'
  | 'misplaced-multi-level-wildcard'
  | 'misplaced-single-level-wildcard'
  | 'empty-share-name'
  | 'invalid-share-name'
  | 'missing-shared-filter'

function error(kind: TopicErrorKind, message: string, rule: string): TopicError {
  return Object.freeze({ kind, message, rule })
}

/** One frozen value per kind: validation sits on the publish path and allocates nothing. */
export const TopicErrors: { readonly [K in TopicErrorKind]: TopicError } = Object.freeze({
  empty: error('empty', 'is empty', 'MQTT-4.7.3-1'),
  'too-long': error('too-long', 'is longer than 65,535 bytes', 'MQTT-4.7.3-3'),
  'null-character': error('null-character', 'contains U+0000', 'MQTT-4.7.3-2'),
  'wildcard-in-name': error('wildcard-in-name', 'contains a wildcard ("+" or "#")', 'MQTT-3.3.2-2'),
  'misplaced-multi-level-wildcard': error('misplaced-multi-level-wildcard', 'has a "#" that is not the whole last level', 'MQTT-4.7.1-1'),
  'misplaced-single-level-wildcard': error('misplaced-single-level-wildcard', 'has a "+" that is not a whole level', 'MQTT-4.7.1-2'),
  'empty-share-name': error('empty-share-name', 'has an empty share name after $share/', 'MQTT-4.8.2-1'),
  'invalid-share-name': error('invalid-share-name', 'has "+" or "#" in its share name', 'MQTT-4.8.2-2'),
  'missing-shared-filter': error('missing-shared-filter', 'has no topic filter after $share/<name>/', 'MQTT-4.8.2-2'),
})
