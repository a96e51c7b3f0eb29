import { readFileSync } from 'node:fs'
import { AclAuthorizer, AclFileError, readAclFile } from './auth/acl.js'
import { PasswordAuthenticator } from './auth/password-authenticator.js'
import { PasswordFileError, readPasswordFile } from './auth/password-file.js'
import { ConfigError, ConfigErrorCode } from './config/errors.js'
import type { FluxConfig } from './config/schema.js'
import { tlsAddress } from './config/validate.js'

function referencedFileError(key: string, path: string, reason: string): ConfigError {
  return new ConfigError(ConfigErrorCode.ReferencedFile, key, `${key}: ${reason}`, path)
}

/** A file named by a config key, read at start-up; a failure names the key. */
export function readKeyFile(key: string, path: string): Buffer {
  try {
    return readFileSync(path)
  } catch (error) {
    throw referencedFileError(key, path, `cannot read ${path}: ${(error as Error).message}`)
  }
}

/** auth.password_file and auth.acl_file, loaded once at start-up (no reload in this build). */
export function loadAuth(auth: FluxConfig['auth']): { authenticator?: PasswordAuthenticator; authorizer?: AclAuthorizer } {
  const out: { authenticator?: PasswordAuthenticator; authorizer?: AclAuthorizer } = {}
  if (auth.password_file !== '') {
    try {
      out.authenticator = new PasswordAuthenticator(readPasswordFile(auth.password_file), auth.allow_anonymous)
    } catch (error) {
      if (error instanceof PasswordFileError) throw referencedFileError('auth.password_file', auth.password_file, error.message)
      throw error
    }
  }
  if (auth.acl_file !== '') {
    try {
      out.authorizer = new AclAuthorizer(readAclFile(auth.acl_file))
    } catch (error) {
      if (error instanceof AclFileError) throw referencedFileError('auth.acl_file', auth.acl_file, error.message)
      throw error
    }
  }
  return out
}

export interface TlsFiles {
  readonly cert: Buffer
  readonly key: Buffer
  readonly ca?: Buffer
}

/** The TLS listener's certificate files, or undefined when TLS is off. */
export function loadTlsFiles(config: FluxConfig): TlsFiles | undefined {
  if (tlsAddress(config) === null) return undefined
  const tls = config.server.mqtt.tls
  return {
    cert: readKeyFile('server.mqtt.tls.cert_file', tls.cert_file),
    key: readKeyFile('server.mqtt.tls.key_file', tls.key_file),
    ...(tls.ca_file === '' ? {} : { ca: readKeyFile('server.mqtt.tls.ca_file', tls.ca_file) }),
  }
}
