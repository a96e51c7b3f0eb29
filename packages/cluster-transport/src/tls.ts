import { readFileSync } from 'node:fs'
import { describeCause, TransportError, TransportErrorCode } from './errors.js'

/** PEM files of `cluster.transport.tls`: this node's certificate and key, and the CA that signs every node's certificate. */
export interface TlsFiles {
  readonly certFile: string
  readonly keyFile: string
  readonly caFile: string
}

export interface TlsMaterial {
  readonly cert: Buffer
  readonly key: Buffer
  readonly ca: Buffer
}

function read(path: string, what: string): Buffer {
  try {
    return readFileSync(path)
  } catch (error) {
    throw new TransportError(TransportErrorCode.Tls, `cannot read the transport TLS ${what} ${path}: ${describeCause(error)}`, { cause: error })
  }
}

/** Reads the three files once, at start-up, so a missing file stops the node with its path. */
export function readTls(files: TlsFiles): TlsMaterial {
  return { cert: read(files.certFile, 'certificate'), key: read(files.keyFile, 'key'), ca: read(files.caFile, 'CA') }
}
