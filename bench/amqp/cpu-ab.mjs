#!/usr/bin/env node
// Broker CPU time per AMQP message, two builds of @fluxmq/amqp alternating:
//   node bench/amqp/cpu-ab.mjs <dist A> <dist B> [rounds 3] [messages per pair 10000]
// Each run starts a fresh broker process (cpu-ab-broker.mjs, pinned to CPU 0) and pushes 10
// unsettled rhea senders -> 10 rhea receivers (64-byte data sections, at most 100 messages in
// transit per sender, receivers accepting with a credit window of 500) through it; the figure is
// the broker's user + system CPU time (/proc/<pid>/stat) over the run divided by the messages. CPU
// time per message, unlike msg/s, hardly depends on how much CPU a loaded machine hands out.
// PROFILE_DIR=<dir> runs the brokers under --cpu-prof.
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import rhea from 'rhea'

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
  const connection = rhea.create_container().connect({ host: '127.0.0.1', port, reconnect: false, tcp_no_delay: true })
  await new Promise((resolve) => connection.once('connection_open', resolve))
  const total = PAIRS * perPair
  let received = 0
  const done = new Promise((resolve) => {
    for (let i = 0; i < PAIRS; i += 1) {
      const receiver = connection.open_receiver({ source: { address: `cpu-ab/${i}` }, credit_window: 500 })
      receiver.on('message', () => {
        received += 1
        if (received === total) resolve()
      })
    }
  })
  await new Promise((resolve) => connection.once('receiver_open', resolve))
  const body = rhea.message.data_section(Buffer.alloc(64, 1))
  const cpuBefore = cpuMs(child.pid)
  const started = performance.now()
  for (let i = 0; i < PAIRS; i += 1) {
    const sender = connection.open_sender({ target: { address: `cpu-ab/${i}` } })
    let sent = 0
    let accepted = 0
    const pump = () => {
      while (sent < perPair && sent - accepted < IN_TRANSIT && sender.sendable()) {
        sender.send({ body })
        sent += 1
      }
    }
    sender.on('sendable', pump)
    sender.on('accepted', () => {
      accepted += 1
      pump()
    })
  }
  await done
  const seconds = (performance.now() - started) / 1000
  const usPerMessage = ((cpuMs(child.pid) - cpuBefore) * 1000) / total
  await new Promise((resolve) => {
    connection.once('connection_close', resolve)
    connection.close()
  })
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
