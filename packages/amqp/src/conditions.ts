/** An AMQP 1.0 error (§2.8.14): a symbolic condition and a description for people. */
export interface AmqpError {
  readonly condition: string
  readonly description: string
}

/** The AMQP 1.0 error conditions (§2.8.15, §2.8.16, §2.8.17, §2.8.18) this adapter sends. */
export const Condition = {
  InternalError: 'amqp:internal-error',
  NotFound: 'amqp:not-found',
  UnauthorizedAccess: 'amqp:unauthorized-access',
  DecodeError: 'amqp:decode-error',
  ResourceLimitExceeded: 'amqp:resource-limit-exceeded',
  InvalidField: 'amqp:invalid-field',
  ConnectionForced: 'amqp:connection:forced',
  FramingError: 'amqp:connection:framing-error',
  LinkStolen: 'amqp:link:stolen',
  TransferLimitExceeded: 'amqp:link:transfer-limit-exceeded',
  MessageSizeExceeded: 'amqp:link:message-size-exceeded',
} as const
export type Condition = (typeof Condition)[keyof typeof Condition]
