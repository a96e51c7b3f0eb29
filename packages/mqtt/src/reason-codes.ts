import type { PublishStatus, QoS } from '@fluxmq/core'
import { Refusal } from '@fluxmq/core'
import { ReasonCode } from '@fluxmq/mqtt-codec'

/**
 * The MQTT 5 reason code for each of the core's refusals, as CONNACK and DISCONNECT carry it.
 * Acknowledgements allow fewer codes per packet type: see pubackReason and subackReason.
 */
const REASONS: Readonly<Record<Refusal, ReasonCode>> = {
  [Refusal.NotAuthorized]: ReasonCode.NotAuthorized,
  [Refusal.BadCredentials]: ReasonCode.BadUserNameOrPassword,
  [Refusal.BadAuthenticationMethod]: ReasonCode.BadAuthenticationMethod,
  [Refusal.QuotaExceeded]: ReasonCode.QuotaExceeded,
  [Refusal.TopicInvalid]: ReasonCode.TopicNameInvalid,
  [Refusal.PayloadInvalid]: ReasonCode.PayloadFormatInvalid,
  [Refusal.NotFound]: ReasonCode.PacketIdentifierNotFound,
  [Refusal.ProtocolViolation]: ReasonCode.ProtocolError,
  [Refusal.Refused]: ReasonCode.ImplementationSpecificError,
  [Refusal.ServerUnavailable]: ReasonCode.ServerUnavailable,
  [Refusal.ServerShuttingDown]: ReasonCode.ServerShuttingDown,
  [Refusal.SessionTakenOver]: ReasonCode.SessionTakenOver,
  [Refusal.AdministrativeAction]: ReasonCode.AdministrativeAction,
  [Refusal.Unspecified]: ReasonCode.UnspecifiedError,
}

/** A refusal as CONNACK (MQTT 5; 3.1.1 maps on to a return code) or DISCONNECT gives it. */
export function reasonOf(refusal: Refusal): ReasonCode {
  return REASONS[refusal]
}

/**
 * The reason codes an acknowledgement may carry (MQTT 5 §3.4.2.1 PUBACK and PUBREC, §3.9.3
 * SUBACK); clients refuse others as malformed. A refusal outside them gets the nearest one.
 */
const PUBACK_REASONS: ReadonlySet<number> = new Set([0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99])
const SUBACK_REASONS: ReadonlySet<number> = new Set([0x80, 0x83, 0x87, 0x8f, 0x91, 0x97, 0x9e, 0xa1, 0xa2])

/** PUBACK / PUBREC for what became of a publish. */
export function pubackReason(status: PublishStatus): ReasonCode {
  if (status === 'accepted') return ReasonCode.Success
  if (status === 'no_subscribers') return ReasonCode.NoMatchingSubscribers
  const reason = REASONS[status]
  // An unknown or already settled queue message (0x92 is PUBREL's and PUBCOMP's, not PUBACK's).
  return PUBACK_REASONS.has(reason) ? reason : ReasonCode.ImplementationSpecificError
}

/** One SUBACK entry: the granted QoS, or the refusal in SUBACK's codes. */
export function subackReason(granted: QoS | Refusal): number {
  if (typeof granted === 'number') return granted
  if (granted === Refusal.TopicInvalid) return ReasonCode.TopicFilterInvalid
  const reason = REASONS[granted]
  return SUBACK_REASONS.has(reason) ? reason : ReasonCode.UnspecifiedError
}
