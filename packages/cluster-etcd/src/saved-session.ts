import type { SessionProtocol, SubscriptionOptions } from '@fluxmq/core'
import { ClusterError, ClusterErrorCode } from './errors.js'

/** What a persistent session leaves in etcd for whoever resumes it after its node died. */
export interface SavedSession {
  readonly protocol: SessionProtocol
  /** Seconds the session outlives its connection (the leader's expiry sweep counts from the owner's death). */
  readonly expiryInterval: number
  readonly subscriptions: readonly SubscriptionOptions[]
}

/** A saved session as read back: who wrote it, under which epoch, at which revision. */
export interface SavedSessionEntry extends SavedSession {
  readonly node: string
  readonly epoch: number
  readonly modRevision: string
}

/** A `subs/<client>` value; throws BadRecord when it is not one this build wrote. */
export function parseSavedSession(clientId: string, value: Buffer, modRevision: string): SavedSessionEntry {
  let record: Partial<SavedSessionEntry>
  try {
    record = JSON.parse(value.toString('utf8')) as Partial<SavedSessionEntry>
  } catch (error) {
    throw new ClusterError(ClusterErrorCode.BadRecord, `subs/${clientId} is not JSON`, { cause: error })
  }
  const { node, epoch, protocol, expiryInterval, subscriptions } = record
  if (typeof node !== 'string' || typeof epoch !== 'number' || typeof expiryInterval !== 'number' || typeof protocol !== 'string' || !Array.isArray(subscriptions)) {
    throw new ClusterError(ClusterErrorCode.BadRecord, `subs/${clientId} lacks node, epoch, protocol, expiry or subscriptions`)
  }
  return { node, epoch, protocol, expiryInterval, subscriptions, modRevision }
}
