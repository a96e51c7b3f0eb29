import type { Readable, Writable } from 'node:stream'
import { hashPassword } from '../auth/password-hash.js'
import { isValidUsername, updatePasswordFile } from '../auth/password-file.js'
import { UsageError } from './args.js'
import { readNewPassword } from './read-password.js'

/** `fluxmq passwd FILE USERNAME`: writes or removes one `username:scrypt-hash` line. */
export async function passwd(
  command: { readonly file: string; readonly username: string; readonly password?: string; readonly remove: boolean },
  io: { readonly stdin: Readable; readonly stderr: Writable },
): Promise<void> {
  if (!isValidUsername(command.username)) throw new UsageError(`username "${command.username}" must not be empty or contain ":" or whitespace`)
  if (command.remove) {
    if (!updatePasswordFile(command.file, command.username, null)) throw new UsageError(`user "${command.username}" is not in ${command.file}`)
    io.stderr.write(`removed user ${command.username} from ${command.file}\n`)
    return
  }
  const password = command.password ?? (await readNewPassword(io.stdin, io.stderr))
  if (password === '') throw new UsageError('the password must not be empty')
  updatePasswordFile(command.file, command.username, await hashPassword(Buffer.from(password, 'utf8')))
  io.stderr.write(`set the password of ${command.username} in ${command.file}\n`)
}
