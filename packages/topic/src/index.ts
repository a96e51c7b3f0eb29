export { type TopicError, type TopicErrorKind, TopicErrors } from './error.js'
export { topicNameUnitError, validateTopicFilter, validateTopicName } from './validate.js'
export { isSharedFilter, parseSharedFilter, SHARE_PREFIX, type SharedFilter, unshared } from './shared.js'
export { dollarExcluded, hasWildcard, isDollarTopic, levelsCover, levelsIntersect, topicMatches } from './match.js'
