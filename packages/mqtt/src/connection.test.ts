import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { ReasonCode } from '@fluxmq/mqtt-codec'
import { describe, expect, it } from 'vitest'
import { RawClient, nextMessage, testScope, until } from './test-support/harness.js'

const s = testScope()

describe('connection lifecycle', () => {
  it('[MQTT-3.1.2-22] [MQTT-3.1.2-24] no packet within 1.5 × Keep Alive: DISCONNECT 0x8D (v5) and close', async () => {
    const t = await s.start()
    const r = await s.raw(t.port, 5, { keepalive: 1 })
    const started = Date.now()
    expect(await r.next(4000)).toMatchObject({ cmd: 'disconnect', reasonCode: ReasonCode.KeepAliveTimeout })
    await r.closedByServer()
    const elapsed = Date.now() - started
    expect(elapsed).toBeGreaterThanOrEqual(1400)
    expect(elapsed).toBeLessThan(3000)
  })

  it('[MQTT-3.1.2-24] packets within the keep alive keep the connection open (3.1.1 closes silently when they stop)', async () => {
    const t = await s.start()
    const r = await s.raw(t.port, 4, { keepalive: 1 })
    for (let i = 0; i < 4; i++) {
      await new Promise((resolve) => setTimeout(resolve, 500))
      r.send({ cmd: 'pingreq' })
      expect(await r.next()).toMatchObject({ cmd: 'pingresp' })
    }
    await r.closedByServer(4000)
    expect(r.packets).toEqual([])
  })

  it('Server Keep Alive is enforced instead of the client value', async () => {
    const t = await s.start({ serverKeepAlive: 1 })
    const r = await s.raw(t.port, 5, { keepalive: 0 })
    expect(await r.next(4000)).toMatchObject({ cmd: 'disconnect', reasonCode: ReasonCode.KeepAliveTimeout })
  })

  it('connectTimeoutMs: a socket that sends no CONNECT is closed', async () => {
    const t = await s.start({ connectTimeoutMs: 200 })
    const r = await s.rawSocket(t.port, 5)
    await r.closedByServer(2000)
    await until(() => t.server.connectionCount === 0)
  })

  it('malformed input closes that connection only, with one log line {clientId, remote, reason}', async () => {
    const t = await s.start()
    const good = await s.client({ protocolVersion: 5 })
    await good.subscribeAsync('still/works', { qos: 1 })
    const r = await s.raw(t.port, 5, { clientId: 'garbage' })
    // PUBLISH whose topic length runs past the packet.
    r.sendBytes([0x30, 0x03, 0x00, 0x09, 0x61])
    expect(await r.next()).toMatchObject({ cmd: 'disconnect', reasonCode: ReasonCode.MalformedPacket })
    await r.closedByServer()
    const lines = t.logger.lines.filter((l) => l.obj['clientId'] === 'garbage' && l.level === 'warn')
    expect(lines).toHaveLength(1)
    expect(lines[0]!.obj).toMatchObject({ clientId: 'garbage', remote: expect.stringMatching(/^127\.0\.0\.1:/), reason: expect.any(String) })
    const got = nextMessage(good)
    await good.publishAsync('still/works', 'yes', { qos: 1 })
    expect((await got).payload.toString()).toBe('yes')
  })

  it('a packet over broker.max_packet_size: DISCONNECT 0x95 before the body is read', async () => {
    const t = await s.start({ maxPacketSize: 1024 })
    const r = await s.raw(t.port, 5)
    // PUBLISH announcing 200 MB; only the fixed header is sent.
    r.sendBytes([0x30, 0x80, 0x80, 0x80, 0x64])
    expect(await r.next()).toMatchObject({ cmd: 'disconnect', reasonCode: ReasonCode.PacketTooLarge })
    await r.closedByServer()
  })

  it('a client whose socket accepts no byte for write_stall_timeout is disconnected and logged; a reading one is kept', async () => {
    const t = await s.start({ maxWriteBuffer: 64 * 1024, writeStallTimeoutMs: 1000 })
    const dead = await s.raw(t.port, 5, { clientId: 'dead' })
    dead.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'flood', qos: 0 }] })
    await dead.next()
    const alive = await s.client({ protocolVersion: 5, clientId: 'alive' })
    let got = 0
    alive.on('message', () => got++)
    await alive.subscribeAsync('flood', { qos: 0 })
    dead.socket.pause()
    const pub = await s.client({ protocolVersion: 5 })
    // More than the kernel's loopback buffers take in (several MiB with autotuning).
    const payload = Buffer.alloc(64 * 1024)
    let sent = 0
    for (; sent < 600 && !dead.closed; sent++) {
      pub.publish('flood', payload, { qos: 0 })
      if (sent % 20 === 19) await new Promise((resolve) => setTimeout(resolve, 10))
    }
    // The kernel's socket buffers fill, then nothing more is accepted for the stall timeout.
    await until(() => t.server.stats.writeStallDisconnects === 1, 15_000)
    dead.socket.resume()
    await dead.closedByServer()
    expect(t.logger.lines.some((l) => l.level === 'warn' && l.obj['clientId'] === 'dead' && l.msg === 'client accepts no bytes, disconnecting')).toBe(true)
    expect(t.server.stats.writeStallDisconnects).toBe(1)
    await until(() => got === sent, 10_000)
    expect(t.logger.lines.some((l) => l.obj['clientId'] === 'alive' && l.msg === 'client accepts no bytes, disconnecting')).toBe(false)
  }, 30_000)

  it('above limits.max_buffered_bytes a publisher is not read until the broker drains; nothing it sent is lost', async () => {
    const t = await s.start({ maxBufferedBytes: 20_000 })
    // A subscriber that never acknowledges, with a window of 1: the rest waits in the core's queue.
    const slow = await s.raw(t.port, 5, { clientId: 'slow', properties: { receiveMaximum: 1 } })
    slow.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'mem/t', qos: 1 }] })
    expect(await slow.next()).toMatchObject({ cmd: 'suback' })
    const pub = await s.client({ protocolVersion: 5, clientId: 'publisher' })
    const total = 100
    let acked = 0
    for (let i = 0; i < total; i++) pub.publish('mem/t', Buffer.alloc(1000, i), { qos: 1 }, () => acked++)
    await until(() => t.server.stats.memoryPauses > 0, 5000)
    expect(t.logger.lines.some((l) => l.level === 'warn' && l.msg === 'above max_buffered_bytes, publishers paused')).toBe(true)
    // Held: its socket is not read, so the queue stops growing well before all of it is in.
    expect(t.broker.stats.queuedBytes).toBeLessThan(total * 1000)
    expect(acked).toBeLessThan(total)
    // The subscriber goes (clean start, no expiry): its queue is dropped, the publisher is read again.
    slow.close()
    await until(() => acked === total, 10_000)
  }, 30_000)

  it('bytes in and out are reported to the broker', async () => {
    const t = await s.start()
    const r = await s.raw(t.port, 5)
    r.send({ cmd: 'pingreq' })
    await r.next()
    await new Promise((resolve) => setImmediate(resolve))
    expect(t.broker.stats.bytesReceived).toBeGreaterThan(10)
    expect(t.broker.stats.bytesSent).toBeGreaterThan(2)
  })
})

describe('MqttServer.handleStream', () => {
  it('serves MQTT over any byte stream handed to it', async () => {
    const t = await s.start()
    const outer = createServer((socket) => t.server.handleStream(socket, 'custom'))
    await new Promise<void>((resolve) => outer.listen(0, '127.0.0.1', resolve))
    try {
      const { port } = outer.address() as AddressInfo
      const r = await s.raw(port, 5, { clientId: 'streamed' })
      r.send({ cmd: 'pingreq' })
      expect(await r.next()).toMatchObject({ cmd: 'pingresp' })
      expect(t.server.connectionCount).toBe(1)
    } finally {
      // The outer server's close waits for its sockets: the scope (broker included) ends them.
      await s.close()
      await new Promise((resolve) => outer.close(resolve))
    }
  })
})

describe('MqttServer.close', () => {
  it('sends DISCONNECT 0x8B to v5 clients, closes 3.1.1 ones, and resolves (every caller) when all are closed', async () => {
    const t = await s.start()
    const r5 = await s.raw(t.port, 5)
    const r4 = await s.raw(t.port, 4)
    const idle = await s.rawSocket(t.port, 5)
    expect(t.server.connectionCount).toBe(3)
    // Idempotent: a second close shares the first one's completion.
    await Promise.all([t.server.close(), t.server.close()])
    expect(t.server.connectionCount).toBe(0)
    expect(await r5.next()).toMatchObject({ cmd: 'disconnect', reasonCode: ReasonCode.ServerShuttingDown })
    await r5.closedByServer()
    await r4.closedByServer()
    expect(r4.packets).toEqual([])
    await idle.closedByServer()
    await expect(RawClient.open(t.port, 5)).rejects.toThrow()
  })
})
