import { ReasonCode } from '@fluxmq/mqtt-codec'
import { Refusal, type AuthRequest, type AuthResult } from '@fluxmq/core'
import type { IAuthPacket } from '@fluxmq/mqtt-codec'
import type { Connection } from '../connection.js'
import { protocolError } from '../errors.js'
import { reasonOf } from '../reason-codes.js'
import { completeConnect } from './connect.js'
import type { PendingConnect } from './connect.js'

/** One authentication exchange: the CONNECT's, or a re-authentication (AUTH 0x19) while connected. */
export interface AuthExchange {
  /** Undefined for plain user name / password authentication (no AUTH packets). */
  readonly method: string | undefined
  /** Set for the CONNECT's exchange; undefined for re-authentication. */
  readonly connect: PendingConnect | undefined
  step: number
  /** True while we wait for the client's next AUTH (0x18). */
  awaitingClient: boolean
}

/** Authenticates a CONNECT: plain (user name / password) or enhanced (Authentication Method). */
export function startAuthentication(connection: Connection, pending: PendingConnect): void {
  const packet = pending.packet
  const method = packet.properties?.authenticationMethod
  const options = connection.options
  if (method !== undefined) {
    // [MQTT-4.12.0-1] an Authentication Method nobody can handle: CONNACK 0x8C and close.
    if (options.authenticator === undefined) return connection.refuse(ReasonCode.BadAuthenticationMethod, `authentication method ${method} not supported`)
    connection.authMethod = method
  } else if (!options.allowAnonymous && packet.username === undefined) {
    // auth.allow_anonymous=false: no credentials, no connection (0x87; 3.1.1 return code 5).
    return connection.refuse(ReasonCode.NotAuthorized, 'anonymous clients are not allowed')
  }
  const exchange: AuthExchange = { method, connect: pending, step: 0, awaitingClient: false }
  connection.auth = exchange
  runStep(connection, exchange, packet.properties?.authenticationData)
}

/** AUTH from the client: the next step of a running exchange (0x18) or a re-authentication (0x19). */
export function handleAuth(connection: Connection, packet: IAuthPacket): void {
  // [MQTT-4.12.0-7] without an Authentication Method in CONNECT the client must not send AUTH.
  if (connection.authMethod === undefined) throw protocolError('AUTH without an authentication method in CONNECT')
  const method = packet.properties?.authenticationMethod
  // [MQTT-4.12.0-5] [MQTT-4.12.1-1] every AUTH carries the CONNECT's Authentication Method.
  if (method !== connection.authMethod) throw protocolError(`AUTH with authentication method ${String(method)}, not ${connection.authMethod}`)
  const running = connection.auth
  const data = packet.properties?.authenticationData
  if (packet.reasonCode === ReasonCode.ContinueAuthentication) {
    // [MQTT-4.12.0-3] the client answers our AUTH 0x18 with AUTH 0x18, and only then.
    if (running === undefined || !running.awaitingClient) throw protocolError('unexpected AUTH continue')
    running.step += 1
    runStep(connection, running, data)
    return
  }
  if (packet.reasonCode === ReasonCode.ReAuthenticate) {
    // [MQTT-4.12.1-1] re-authentication starts after CONNACK, one exchange at a time.
    if (connection.state !== 'connected' || running !== undefined) throw protocolError('unexpected re-authentication')
    const exchange: AuthExchange = { method, connect: undefined, step: 0, awaitingClient: false }
    connection.auth = exchange
    runStep(connection, exchange, data)
    return
  }
  throw protocolError(`AUTH with reason code ${packet.reasonCode}`)
}

function runStep(connection: Connection, exchange: AuthExchange, data: Buffer | undefined): void {
  exchange.awaitingClient = false
  const packet = exchange.connect?.packet
  const request: AuthRequest = {
    clientId: connection.clientId,
    protocol: connection.v5 ? 'mqtt5' : 'mqtt3',
    step: exchange.step,
    ...(connection.remoteAddress === undefined ? {} : { remoteAddress: connection.remoteAddress }),
    ...((packet?.username ?? connection.username) === undefined ? {} : { username: packet?.username ?? connection.username }),
    ...(packet?.password === undefined ? {} : { password: packet.password }),
    ...(exchange.method === undefined ? {} : { method: exchange.method }),
    ...(data === undefined ? {} : { data }),
  }
  const authenticator = connection.options.authenticator
  // No authenticator: everyone is who they say they are (allowAnonymous was checked before).
  const outcome = new Promise<AuthResult>((resolve) => resolve(authenticator === undefined ? { outcome: 'success' } : authenticator.authenticate(request)))
  outcome.then(
    (result) => finish(connection, exchange, result),
    (err: unknown) => {
      connection.log.error({ err }, 'authenticator failed')
      return finish(connection, exchange, { outcome: 'failure', reason: Refusal.Unspecified, reasonString: 'authentication failed' })
    },
  ).catch((err: unknown) => {
    connection.log.error({ err }, 'connect failed')
    connection.terminate(ReasonCode.UnspecifiedError, 'internal error')
  })
}

async function finish(connection: Connection, exchange: AuthExchange, result: AuthResult): Promise<void> {
  // The socket closed (or another exchange replaced this one) while the authenticator worked.
  if (!connection.open || connection.auth !== exchange) return
  const pending = exchange.connect
  switch (result.outcome) {
    case 'continue':
      if (exchange.method === undefined) {
        connection.log.error({}, 'authenticator asked to continue a plain user name / password authentication')
        return failed(connection, pending, ReasonCode.UnspecifiedError, 'authentication failed')
      }
      // [MQTT-4.12.0-2] more data needed: AUTH 0x18 with the same method [MQTT-4.12.0-5].
      connection.sendPacket({ cmd: 'auth', reasonCode: ReasonCode.ContinueAuthentication, properties: { authenticationMethod: exchange.method, authenticationData: result.data } })
      exchange.awaitingClient = true
      connection.awaitClientAuth()
      return
    case 'failure':
      return failed(connection, pending, reasonOf(result.reason), result.reasonString)
    case 'success':
      connection.auth = undefined
      if (pending !== undefined) return completeConnect(connection, pending, result.username ?? pending.packet.username, result.data)
      // Re-authentication succeeded: AUTH 0x00 closes the exchange.
      connection.sendPacket({
        cmd: 'auth',
        reasonCode: ReasonCode.Success,
        properties: { authenticationMethod: exchange.method!, ...(result.data === undefined ? {} : { authenticationData: result.data }) },
      })
  }
}

/** [MQTT-4.12.0-4] a refused CONNECT gets a CONNACK >= 0x80; [MQTT-4.12.1-2] a failed re-authentication a DISCONNECT. */
function failed(connection: Connection, pending: PendingConnect | undefined, reason: ReasonCode, reasonString: string | undefined): void {
  connection.auth = undefined
  if (pending !== undefined) connection.refuse(reason, reasonString)
  else connection.terminate(reason, reasonString)
}
