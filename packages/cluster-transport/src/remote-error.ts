// How handler errors cross the wire and come back as TransportErrors: a refusal carries its
// FLUXMQ_ERR_* code in the `fluxmq-error-code` response metadata; everything else is the peer
// being unreachable or broken.
import { Code, ConnectError } from '@connectrpc/connect'
import { describeCause, fluxmqCode, TransportError, TransportErrorCode } from './errors.js'

const CODE_HEADER = 'fluxmq-error-code'

/** The ConnectError a server answers with when its handler threw `error`. */
export function refusal(error: unknown): ConnectError {
  if (error instanceof ConnectError) return error
  const code = fluxmqCode(error) ?? TransportErrorCode.Rejected
  return new ConnectError(describeCause(error), Code.FailedPrecondition, { [CODE_HEADER]: code })
}

/** The TransportError a client reports for a failed call to `peer`. */
export function callError(error: unknown, peer: string): TransportError {
  if (error instanceof TransportError) return error
  const connect = ConnectError.from(error)
  const remoteCode = connect.metadata.get(CODE_HEADER) ?? undefined
  if (remoteCode === TransportErrorCode.Protocol) {
    return new TransportError(TransportErrorCode.Protocol, `${peer}: ${connect.rawMessage}`, { peer, cause: error })
  }
  if (remoteCode !== undefined) {
    return new TransportError(TransportErrorCode.Rejected, `${peer} refused: ${connect.rawMessage}`, { peer, remoteCode, cause: error })
  }
  return new TransportError(TransportErrorCode.PeerUnavailable, `${peer}: ${connect.rawMessage}`, { peer, cause: error })
}

/** True when the call failed because the peer could not be reached or broke off, not because it said no. */
export function isUnavailable(error: TransportError): boolean {
  return error.code === TransportErrorCode.PeerUnavailable
}
