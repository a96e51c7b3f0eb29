export { MqttServer } from './server.js'
export type { MqttServerStats } from './server.js'
export type { MqttServerOptions, ListenOptions, TlsListenOptions, WebSocketListenOptions } from './options.js'
export { MqttErrorCode, MqttProtocolError, MqttListenError } from './errors.js'
