import type { Refusal } from './refusal.js'
import type { SessionProtocol } from './storage.js'

/** Who is on the other end of a connection, as far as authorization is concerned. */
export interface ClientIdentity {
  readonly clientId: string
  readonly username?: string
  readonly protocol: SessionProtocol
  readonly remoteAddress?: string
}

export interface AuthRequest extends ClientIdentity {
  readonly password?: Buffer
  /** MQTT 5 Authentication Method / SASL mechanism; undefined for plain username/password. */
  readonly method?: string
  readonly data?: Buffer
  /** 0 for the CONNECT (or SASL init), then 1, 2, … for each AUTH continue step. */
  readonly step: number
}

export type AuthResult =
  | { readonly outcome: 'success'; readonly username?: string; readonly data?: Buffer }
  | { readonly outcome: 'continue'; readonly data: Buffer }
  | { readonly outcome: 'failure'; readonly reason: Refusal; readonly reasonString?: string }

/** Pluggable authentication (password file, enhanced auth, SASL). */
export interface Authenticator {
  authenticate(request: AuthRequest): Promise<AuthResult>
}

/** Topic-level authorization; synchronous because it sits on the publish hot path. */
export interface Authorizer {
  canPublish(client: ClientIdentity, topic: string): boolean
  canSubscribe(client: ClientIdentity, filter: string): boolean
}
