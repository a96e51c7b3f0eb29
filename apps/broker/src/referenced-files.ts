import { readFileSync } from 'node:fs'
import { AclAuthorizer, readAclFile } from './auth/acl.js'
import { LineFileError } from './auth/line-file-error.js'
import { PasswordAuthenticator } from './auth/password-authenticator.js'
import { readPasswordFile } from './auth/password-file.js'
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

/** Reads a line-oriented file a key names; its path:line error becomes a ConfigError naming the key. */
function readLineFile<T>(key: string, path: string, read: (path: string) => T): T {
  try {
    return read(path)
  } catch (error) {
    if (error instanceof LineFileError) throw referencedFileError(key, path, error.message)
    throw error
  }
}

const readUsers = (path: string) => readLineFile('auth.password_file', path, readPasswordFile)
const readRules = (path: string) => readLineFile('auth.acl_file', path, readAclFile)

export interface LoadedAuth {
  readonly authenticator?: PasswordAuthenticator
  readonly authorizer?: AclAuthorizer
}

/** auth.password_file and auth.acl_file, read at start-up; a failure names the key. */
export function loadAuth(auth: FluxConfig['auth']): LoadedAuth {
  return {
    ...(auth.password_file === '' ? {} : { authenticator: new PasswordAuthenticator(readUsers(auth.password_file), auth.allow_anonymous) }),
    ...(auth.acl_file === '' ? {} : { authorizer: new AclAuthorizer(readRules(auth.acl_file)) }),
  }
}

/**
 * Re-reads the files loadAuth read (SIGHUP). Both are read before either is swapped in, so a
 * broken file changes nothing: the ConfigError names its key and the old rules stay. Returns the
 * keys reloaded.
 */
export function reloadAuth(auth: FluxConfig['auth'], loaded: LoadedAuth): string[] {
  const users = loaded.authenticator === undefined ? undefined : readUsers(auth.password_file)
  const rules = loaded.authorizer === undefined ? undefined : readRules(auth.acl_file)
  const reloaded: string[] = []
  if (users !== undefined) {
    loaded.authenticator?.replaceUsers(users)
    reloaded.push('auth.password_file')
  }
  if (rules !== undefined) {
    loaded.authorizer?.replaceRules(rules)
    reloaded.push('auth.acl_file')
  }
  return reloaded
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
