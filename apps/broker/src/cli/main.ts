import type { Readable, Writable } from 'node:stream'
import { nodeIdOf, startBroker } from '../app.js'
import { PasswordFileError } from '../auth/password-file.js'
import type { RunningBroker } from '../app.js'
import { ConfigError } from '../config/errors.js'
import { loadConfig } from '../config/load.js'
import { renderConfig } from '../config/print.js'
import type { FluxConfig } from '../config/schema.js'
import { checkSupported, validateConfig } from '../config/validate.js'
import { createLogger } from '../log.js'
import { loadAuth, loadTlsFiles } from '../referenced-files.js'
import { VERSION } from '../version.js'
import { UsageError, parseCommand } from './args.js'
import type { CtlCommand } from './args.js'
import { ExitCode, Lifecycle } from './lifecycle.js'
import type { ProcessHost } from './lifecycle.js'
import { passwd } from './passwd.js'
import { USAGE } from './usage.js'
import { CtlError, ctl } from './ctl.js'
import type { CtlDefaults } from './ctl.js'

export interface CliIO {
  readonly stdin: Readable
  readonly stdout: Writable
  readonly stderr: Writable
  readonly env: Readonly<Record<string, string | undefined>>
  /** Where `serve` installs its signal and crash handling; the real process by default. */
  readonly host?: ProcessHost
}

/** Loads and validates a configuration; every problem is a ConfigError naming its key. */
function validConfig(file: string | undefined, sets: readonly string[], env: CliIO['env']): FluxConfig {
  const { config } = loadConfig({ ...(file === undefined ? {} : { file }), sets, env })
  validateConfig(config)
  return config
}

/** A configuration this build can run: valid, and asking for nothing that is not built yet. */
function effectiveConfig(file: string | undefined, sets: readonly string[], env: CliIO['env']): FluxConfig {
  const config = validConfig(file, sets, env)
  checkSupported(config)
  return config
}

/** ctl reads the node's HTTP address and token from the configuration unless both are given. */
function ctlDefaults(command: CtlCommand, env: CliIO['env']): CtlDefaults {
  if (command.url !== undefined && command.token !== undefined) return { addr: null, token: command.token }
  const http = validConfig(command.file, command.sets, env).server.http
  return { addr: http.addr, token: http.token }
}

/**
 * Runs one command line. Returns the exit code for commands that finish, or the running broker
 * for `serve` (its Lifecycle ends the process on a signal). Usage and configuration problems print
 * one line without a stack trace and exit 2.
 */
export async function main(argv: readonly string[], io: CliIO): Promise<number | RunningBroker> {
  try {
    const command = parseCommand(argv)
    switch (command.kind) {
      case 'help':
        io.stdout.write(USAGE)
        return ExitCode.Ok
      case 'version':
        io.stdout.write(`fluxmq ${VERSION}\n`)
        return ExitCode.Ok
      case 'passwd':
        await passwd(command, io)
        return ExitCode.Ok
      case 'ctl':
        return await ctl(command, ctlDefaults(command, io.env), io)
      case 'check-config': {
        const config = effectiveConfig(command.file, command.sets, io.env)
        // The files keys name are part of the configuration too: check them as start-up would.
        loadAuth(config.auth)
        loadTlsFiles(config)
        io.stdout.write(renderConfig(config))
        return ExitCode.Ok
      }
      case 'serve': {
        const config = effectiveConfig(command.file, command.sets, io.env)
        const logger = createLogger(config.log, nodeIdOf(config))
        const lifecycle = new Lifecycle(logger, config.server.shutdown_timeout, io.host)
        try {
          const broker = await startBroker(config, logger)
          lifecycle.started(broker)
          return broker
        } catch (error) {
          if (error instanceof ConfigError) throw error
          // Not the operator's config but the machine (a port in use, a storage failure): exit 1.
          logger.fatal({ err: error }, 'start-up failed')
          io.stderr.write(`fluxmq: start-up failed: ${(error as Error).message}\n`)
          return ExitCode.Failure
        }
      }
    }
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(`fluxmq: ${error.message}\nRun "fluxmq --help" for usage.\n`)
      return ExitCode.Usage
    }
    if (error instanceof ConfigError) {
      io.stderr.write(`fluxmq: ${error.message}\n`)
      return ExitCode.Usage
    }
    if (error instanceof CtlError) {
      io.stderr.write(`fluxmq ctl: ${error.message}\n`)
      return ExitCode.Failure
    }
    if (error instanceof PasswordFileError) {
      // passwd could not read or write its file: the machine's problem, not the command line's.
      io.stderr.write(`fluxmq: ${error.message}\n`)
      return ExitCode.Failure
    }
    throw error
  }
}
