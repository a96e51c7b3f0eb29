import { describe, expect, it } from 'vitest'
import { BrokerError, BrokerErrorCode, FluxError } from './errors.js'
import { Refusal } from './refusal.js'

class PackageError extends FluxError<'FLUXMQ_ERR_TEST'> {}

describe('FluxError', () => {
  it('carries the code, the message, the class name and the wrapped error', () => {
    const cause = new Error('socket closed')
    const err = new PackageError('FLUXMQ_ERR_TEST', 'it failed', { cause })
    expect(err).toBeInstanceOf(FluxError)
    expect(err).toBeInstanceOf(Error)
    expect(err.name).toBe('PackageError')
    expect(err.code).toBe('FLUXMQ_ERR_TEST')
    expect(err.message).toBe('it failed')
    expect(err.cause).toBe(cause)
    expect(String(err)).toBe('PackageError: it failed')
  })

  it('has no cause property when it wraps nothing', () => {
    expect('cause' in new PackageError('FLUXMQ_ERR_TEST', 'x', { cause: undefined })).toBe(false)
  })

  it('BrokerError names its code in the message and carries the refusal', () => {
    const err = new BrokerError(BrokerErrorCode.NotStarted, 'start() first')
    expect(err).toBeInstanceOf(FluxError)
    expect(err.name).toBe('BrokerError')
    expect(err.message).toBe('FLUXMQ_ERR_NOT_STARTED: start() first')
    expect(err.reason).toBe(Refusal.Refused)
  })
})
