import { AmqpErrorCode } from './errors.js'
import type { ResolvedOptions } from './options.js'

/** The connection a login is for: the mechanism sets its user name. */
export interface LoginTarget {
  username: string | undefined
  readonly remoteAddress: string | undefined
}

/** A server-side SASL mechanism as rhea drives it: `outcome` is set once `start` settled. */
interface ServerMechanism {
  outcome: boolean | undefined
  username: string | undefined
  start(response: Buffer | undefined, hostname?: string): Promise<void> | void
}

/** [RFC 4616] PLAIN: authzid NUL authcid NUL passwd. */
function parsePlain(response: Buffer | undefined): { username: string; password: Buffer } | undefined {
  if (response === undefined) return undefined
  const first = response.indexOf(0)
  const second = first === -1 ? -1 : response.indexOf(0, first + 1)
  if (second === -1) return undefined
  return { username: response.subarray(first + 1, second).toString('utf8'), password: response.subarray(second + 1) }
}

class PlainMechanism implements ServerMechanism {
  outcome: boolean | undefined
  username: string | undefined

  constructor(
    private readonly target: LoginTarget,
    private readonly options: ResolvedOptions,
  ) {}

  async start(response: Buffer | undefined): Promise<void> {
    const credentials = parsePlain(response)
    if (credentials === undefined) {
      this.refuse(undefined, 'malformed PLAIN response')
      return
    }
    const authenticator = this.options.authenticator
    if (authenticator === undefined) {
      this.accept(credentials.username)
      return
    }
    const result = await authenticator.authenticate({
      // The container id comes with OPEN, after SASL: the login is the connection's, not a client id's.
      clientId: '',
      username: credentials.username,
      password: credentials.password,
      protocol: 'amqp',
      remoteAddress: this.target.remoteAddress,
      step: 0,
    })
    if (result.outcome === 'success') this.accept(result.username ?? credentials.username)
    else this.refuse(credentials.username, result.outcome === 'failure' ? (result.reasonString ?? 'refused') : 'multi-step authentication is not offered over PLAIN')
  }

  private accept(username: string): void {
    this.username = username
    this.target.username = username
    this.outcome = true
  }

  private refuse(username: string | undefined, why: string): void {
    this.options.logger.warn({ code: AmqpErrorCode.Login, remote: this.target.remoteAddress, username }, `AMQP login refused: ${why}`)
    this.outcome = false
  }
}

class AnonymousMechanism implements ServerMechanism {
  outcome: boolean | undefined
  username: string | undefined

  start(): void {
    this.outcome = true
  }
}

/**
 * The SASL mechanisms offered to one connection, in rhea's form (name -> factory): PLAIN against
 * the Authenticator, and ANONYMOUS when auth.allow_anonymous is on (rhea then also accepts a
 * client that skips SASL, which is anonymous too). A refused login gets sasl-outcome `auth`,
 * which clients report as amqp:unauthorized-access.
 */
export function saslMechanisms(target: LoginTarget, options: ResolvedOptions): Record<string, () => ServerMechanism> {
  const mechanisms: Record<string, () => ServerMechanism> = { PLAIN: () => new PlainMechanism(target, options) }
  if (options.allowAnonymous) mechanisms.ANONYMOUS = () => new AnonymousMechanism()
  return mechanisms
}
