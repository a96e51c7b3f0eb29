import { ReasonCode } from '@fluxmq/mqtt-codec'
import type { IUnsubscribePacket } from '@fluxmq/mqtt-codec'
import { validateTopicFilter } from '@fluxmq/topic'
import type { Connection } from '../connection.js'

export function handleUnsubscribe(connection: Connection, packet: IUnsubscribePacket): void {
  const filters = packet.unsubscriptions
  const codes: ReasonCode[] = new Array<ReasonCode>(filters.length)
  const valid: string[] = []
  const validAt: number[] = []
  for (let i = 0; i < filters.length; i++) {
    const filter = filters[i]!
    if (validateTopicFilter(filter) !== undefined) codes[i] = ReasonCode.TopicFilterInvalid
    else {
      valid.push(filter)
      validAt.push(i)
    }
  }
  const results = connection.broker.unsubscribe(connection.session!, valid)
  for (let j = 0; j < validAt.length; j++) codes[validAt[j]!] = results[j] === true ? ReasonCode.Success : ReasonCode.NoSubscriptionExisted
  // [MQTT-3.10.4-4] UNSUBACK with the same packet id; MQTT 5 carries one reason code per filter [MQTT-3.11.3-1].
  if (connection.v5) connection.sendPacket({ cmd: 'unsuback', messageId: packet.messageId ?? 0, granted: codes })
  else connection.sendPacket({ cmd: 'unsuback', messageId: packet.messageId ?? 0, granted: [] })
}
