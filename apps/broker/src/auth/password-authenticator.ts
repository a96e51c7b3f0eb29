import { randomBytes } from 'node:crypto'
import { Refusal } from '@fluxmq/core'
import type { AuthRequest, AuthResult, Authenticator } from '@fluxmq/core'
import { hashPassword, parseHash, verifyPassword } from './password-hash.js'
import type { ScryptHash } from './password-hash.js'

/**
 * Username/password authentication against the password file (auth.password_file). No enhanced
 * authentication methods: a CONNECT with an Authentication Method is refused with 0x8C.
 */
export class PasswordAuthenticator implements Authenticator {
  /** Checked for unknown users so that "no such user" takes as long as "wrong password". */
  private readonly decoy: Promise<ScryptHash>

  constructor(
    private users: ReadonlyMap<string, ScryptHash>,
    private readonly allowAnonymous: boolean,
  ) {
    this.decoy = hashPassword(randomBytes(16)).then((text) => parseHash(text) as ScryptHash)
  }

  /** A reloaded password file: later CONNECTs are checked against it; connected clients stay. */
  replaceUsers(users: ReadonlyMap<string, ScryptHash>): void {
    this.users = users
  }

  async authenticate(request: AuthRequest): Promise<AuthResult> {
    if (request.method !== undefined) {
      return { outcome: 'failure', reason: Refusal.BadAuthenticationMethod, reasonString: 'no enhanced authentication methods are configured' }
    }
    if (request.username === undefined) {
      return this.allowAnonymous
        ? { outcome: 'success' }
        : { outcome: 'failure', reason: Refusal.NotAuthorized, reasonString: 'anonymous clients are not allowed' }
    }
    const hash = this.users.get(request.username)
    const password = request.password ?? Buffer.alloc(0)
    const matches = await verifyPassword(password, hash ?? (await this.decoy))
    if (hash === undefined || request.password === undefined || !matches) {
      return { outcome: 'failure', reason: Refusal.BadCredentials, reasonString: 'bad username or password' }
    }
    return { outcome: 'success', username: request.username }
  }
}
