#!/usr/bin/env node
// Broker CPU time per AMQP message, two builds of @fluxmq/amqp alternating:
//   node bench/amqp/cpu-ab.mjs <dist A> <dist B> [rounds 3] [messages per pair 10000]
// Each run starts a fresh broker process (cpu-ab-broker.mjs, pinned to CPU 0) and pushes 10
// unsettled senders -> 10 receivers, each on its own connection, through it (the generator's
// lean client, lean-client.mjs: 64-byte data sections, at most 100 messages in transit per
// sender, receivers accepting with a credit window of 500); the figure is
// the broker's user + system CPU time (/proc/<pid>/stat) over the run divided by the messages. CPU
// time per message, unlike msg/s, hardly depends on how much CPU a loaded machine hands out.
// PROFILE_DIR=<dir> runs the brokers under --cpu-prof.
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { connectAmqp } from './lean-client.mjs'

const [distA, distB, roundsArg = '3', perArg = '10000'] = process.argv.slice(2)
if (distA === undefined || distB === undefined) throw new Error('usage: cpu-ab.mjs <dist A> <dist B> [rounds] [messages per pair]')
const rounds = Number(roundsArg)
const perPair = Number(perArg)
const PAIRS = 10
const IN_TRANSIT = 100
const TICK_MS = 10 // /proc/<pid>/stat counts in clock ticks of 10 ms (USER_HZ 100)

function cpuMs(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS
}

async function run(dist) {
  const profile = process.env.PROFILE_DIR ? ['--cpu-prof', '--cpu-prof-dir', process.env.PROFILE_DIR] : []
  const brokerScript = fileURLToPath(new URL('cpu-ab-broker.mjs', import.meta.url))
  // taskset execs node: the child's pid is the broker's.
  const child = spawn('taskset', ['-c', '0', process.execPath, ...profile, brokerScript, dist], { stdio: ['ignore', 'pipe', 'inherit'] })
  const port = await new Promise((resolve, reject) => {
    child.stdout.once('data', (line) => resolve(JSON.parse(String(line)).port))
    child.once('exit', (code) => reject(new Error(`broker exited with ${code}`)))
  })
  const open = (id) => connectAmqp({ host: '127.0.0.1', port, containerId: `cpu-ab-${id}` })
  const total = PAIRS * perPair
  let received = 0
  let resolveDone
  const done = new Promise((resolve) => (resolveDone = resolve))
  const connections = []
  for (let i = 0; i < PAIRS; i += 1) {
    const connection = await open(`receiver-${i}`)
    connections.push(connection)
    await connection.attachReceiver(`cpu-ab/${i}`, 500, () => {
      received += 1
      if (received === total) resolveDone()
    })
  }
  const body = Buffer.alloc(64, 1)
  const pump = (pair) => {
    while (pair.sent < perPair && pair.sent - pair.accepted < IN_TRANSIT && pair.link.sendable()) {
      pair.link.send(body)
      pair.sent += 1
    }
  }
  const senders = []
  for (let i = 0; i < PAIRS; i += 1) {
    const connection = await open(`sender-${i}`)
    connections.push(connection)
    const pair = { sent: 0, accepted: 0, link: null }
    pair.link = await connection.attachSender(`cpu-ab/${i}`, () => {
      pair.accepted += 1
      pump(pair)
    })
    pair.link.onSendable = () => pump(pair)
    senders.push(pair)
  }
  const cpuBefore = cpuMs(child.pid)
  const started = performance.now()
  senders.forEach(pump)
  await done
  const seconds = (performance.now() - started) / 1000
  const usPerMessage = ((cpuMs(child.pid) - cpuBefore) * 1000) / total
  await Promise.all(connections.map((connection) => connection.close()))
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  await exited
  return { rate: Math.round(total / seconds), usPerMessage: Number(usPerMessage.toFixed(1)) }
}

const results = { A: [], B: [] }
for (let round = 0; round < rounds; round += 1) {
  for (const [name, dist] of [['A', distA], ['B', distB]]) {
    const result = await run(dist)
    results[name].push(result)
    console.log(`${name} round ${round + 1}: ${result.usPerMessage} µs broker CPU per message, ${result.rate} msg/s`)
  }
}
const median = (list) => list.map((r) => r.usPerMessage).sort((a, b) => a - b)[Math.floor(list.length / 2)]
console.log(`median broker CPU per message: A ${median(results.A)} µs, B ${median(results.B)} µs (B/A ${(median(results.B) / median(results.A)).toFixed(2)})`)
