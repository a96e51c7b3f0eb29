// Running the AMQP generator (amqp/generator.mjs) pinned like the C one, and the addresses each
// broker gives the same topic.
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { collect } from './loadgen.mjs'
import { cpus, pinned } from './process.mjs'

/**
 * The AMQP address of MQTT topic `topic` on `target`. FluxMQ: the topic itself (SPEC §5).
 * RabbitMQ: its amq.topic exchange, where the MQTT plugin also publishes and subscribes, with
 * MQTT's `/` as AMQP's `.` in the routing key. The sink takes anything.
 */
export function amqpAddress(target, topic) {
  return target === 'rabbitmq' ? `/topic/${topic.replaceAll('/', '.')}` : topic
}

/** Runs one measured AMQP load against `ports` ({ amqp, mqtt }); resolves to the generator's report. */
export async function runAmqpLoad(root, target, load, ports, id) {
  const address = amqpAddress(target, load.topic)
  const description = { ...load, ports, address, source: address, filter: load.topic, id }
  const generator = join(root, 'bench/amqp/generator.mjs')
  const [cmd, ...args] = pinned(cpus.loadgen, ['node', generator, JSON.stringify(description)])
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  // Connecting, the phases, the drain bound and closing; past that the run is stuck.
  const bound = (load.warmup + load.duration + load.drain + 60) * 1000
  const timer = setTimeout(() => child.kill('SIGKILL'), bound)
  try {
    return await collect(child, 'AMQP generator run')
  } finally {
    clearTimeout(timer)
  }
}
