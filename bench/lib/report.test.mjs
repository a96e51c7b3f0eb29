import { describe, expect, it } from 'vitest'
import { median, table, targets } from './report.mjs'

const sample = (value, extra = {}) => ({ value, lost: 0, failed: false, notes: [], raw: null, ...extra })

function row(id, kind, results, load = { qos: 1, subs: 1 }) {
  return { id, title: id, kind, storage: 'memory', load, results }
}

describe('median', () => {
  it('reports the middle repetition but the verdict of all of them', () => {
    const result = median([sample(30), sample(10, { failed: true, lost: 4, notes: ['lost some'] }), sample(20)])
    expect(result.value).toBe(20)
    expect(result.failed).toBe(true)
    expect(result.lost).toBe(4)
    expect(result.notes).toEqual(['lost some'])
  })

  it('skips repetitions that measured nothing', () => {
    expect(median([sample(null, { failed: true }), sample(7)]).value).toBe(7)
  })
})

describe('table', () => {
  it('prints the ratios to each reference broker and marks a QoS 1 loss as a failure', () => {
    const markdown = table([
      row('fan-in-qos1', 'throughput', {
        fluxmq: sample(200_000),
        mosquitto: sample(100_000),
        aedes: sample(10_000, { lost: 3, failed: true }),
        sink: sample(4_000_000),
      }),
    ])
    const line = markdown.split('\n')[2]
    expect(line).toContain('| 200.0k/s | 100.0k/s | 10.0k/s **FAIL: lost 3** | 2.00× | 20.00× |')
    expect(line).toContain('4.00M/s published, 20× the fastest broker')
  })

  it("adds FluxMQ's SQLite/memory ratio when both persistent rows ran", () => {
    const markdown = table([
      row('persistent-qos1-sqlite', 'persistent', { fluxmq: sample(30_000) }),
      row('persistent-qos1-memory', 'persistent', { fluxmq: sample(60_000) }),
    ])
    expect(markdown).toContain('| FluxMQ persistent QoS 1, SQLite / memory | 0.50× |')
  })
})

describe('targets', () => {
  it("checks issue 4's throughput ratios and the loss rule", () => {
    const verdicts = targets([row('p2p', 'throughput', { fluxmq: sample(60), mosquitto: sample(100), aedes: sample(10) })])
    expect(verdicts).toEqual([
      { name: 'p2p: FluxMQ ≥ 5× Aedes', verdict: 'PASS' },
      { name: 'p2p: FluxMQ ≥ 0.7× Mosquitto', verdict: 'FAIL' },
      { name: 'p2p: FluxMQ ran every repetition and lost nothing', verdict: 'PASS' },
    ])
  })

  it('says n/a for what did not run and compares latency and memory the lower-is-better way', () => {
    const verdicts = targets([
      row('latency', 'latency', { fluxmq: sample(900), mosquitto: sample(1000) }),
      row('idle', 'idle', { fluxmq: sample(6.5) }),
    ])
    expect(verdicts).toEqual([
      { name: 'latency: FluxMQ ran every repetition and lost nothing', verdict: 'PASS' },
      { name: 'latency: FluxMQ p99 ≤ Mosquitto p99', verdict: 'PASS' },
      { name: "latency: FluxMQ p99 ≤ 2× Mosquitto's in every repetition", verdict: 'n/a' },
      { name: 'idle: FluxMQ ≤ 6 KiB per connection', verdict: 'FAIL' },
    ])
    expect(targets([row('p2p', 'throughput', { mosquitto: sample(1) })])[0].verdict).toBe('n/a')
  })
})

describe('tail latency, repetition by repetition', () => {
  const verdict = (flux, mosq) => {
    const samples = { fluxmq: flux.map((v) => sample(v)), mosquitto: mosq.map((v) => sample(v)) }
    const results = { fluxmq: median(samples.fluxmq), mosquitto: median(samples.mosquitto) }
    return targets([{ ...row('latency', 'latency', results), samples }]).find((t) => t.name.includes('2× Mosquitto')).verdict
  }

  it('compares each FluxMQ repetition with the Mosquitto one run next to it, not the medians', () => {
    expect(verdict([100, 300, 90], [60, 160, 50])).toBe('PASS')
    // Medians 100 against 60 pass; the third pair (130 against 50) does not.
    expect(verdict([100, 300, 130], [60, 160, 50])).toBe('FAIL')
  })

  it('fails a repetition that measured nothing', () => {
    expect(verdict([100, null], [60, 60])).toBe('FAIL')
  })
})

describe('open-loop floods', () => {
  const flood = (value, extra = {}) => sample(value, { peakRssKiB: 50_000, subDisconnects: 0, ...extra })
  function floodRow(samples, qos = 0) {
    const results = Object.fromEntries(Object.entries(samples).map(([target, runs]) => [target, median(runs)]))
    return { ...row('flood', 'flood', results, { qos, subs: 1 }), samples }
  }

  it('shows delivered rate, worst peak RSS, disconnects and the /metrics drop count', () => {
    const labelled = { total: 12, byReason: { queue_full: 12 } }
    const markdown = table([
      floodRow({ fluxmq: [flood(300_000, { dropped: labelled }), flood(200_000, { peakRssKiB: 400_000, subDisconnects: 1, dropped: labelled, lost: 12 })] }),
    ])
    expect(markdown.split('\n')[2]).toContain('| 200.0k/s delivered, peak RSS 410 MB, 1 subscriber disconnect(s), dropped per /metrics 12 (lost 12) |')
  })

  it('checks every repetition against the disconnect and RSS bounds and the rate against Mosquitto', () => {
    const verdicts = targets([
      floodRow({ fluxmq: [flood(120), flood(110, { subDisconnects: 2 }), flood(130, { peakRssKiB: 300_000 })], mosquitto: [flood(100)] }),
    ])
    expect(verdicts).toEqual([
      { name: 'flood: FluxMQ ran every repetition', verdict: 'PASS' },
      { name: 'flood: no FluxMQ subscriber disconnected', verdict: 'FAIL' },
      { name: 'flood: FluxMQ peak RSS ≤ 300 MB', verdict: 'FAIL' },
      { name: "flood: FluxMQ delivers ≥ Mosquitto's msg/s", verdict: 'PASS' },
      { name: "flood: FluxMQ's QoS 0 losses counted in fluxmq_messages_dropped_total{reason}", verdict: 'n/a' },
    ])
  })

  it('fails a QoS 1 flood that lost a PUBACKed message', () => {
    const verdicts = targets([floodRow({ fluxmq: [flood(100, { lost: 1, failed: true })] }, 1)])
    expect(verdicts[0]).toEqual({ name: 'flood: FluxMQ ran every repetition and lost nothing it PUBACKed', verdict: 'FAIL' })
    expect(verdicts.map((v) => v.name)).not.toContain("flood: FluxMQ's QoS 0 losses counted in fluxmq_messages_dropped_total{reason}")
  })

  it('checks the QoS 0 losses against the labelled drop count once the broker has it', () => {
    const check = (dropped, lost) =>
      targets([floodRow({ fluxmq: [flood(100, { dropped: { total: dropped, byReason: { queue_full: dropped } }, lost })] })]).at(-1).verdict
    expect(check(40, 40)).toBe('PASS')
    expect(check(39, 40)).toBe('FAIL')
  })
})

describe('AMQP rows', () => {
  const amqpRow = (id, kind, results) => ({ ...row(id, kind, results, { qos: 1, subs: 10 }), protocol: 'amqp' })
  const withLatency = (value, p99, raw = {}) => sample(value, { raw: { latency_us: { p50: 1, p99, p999: 1 }, ...raw } })

  it("get their own table against RabbitMQ, with the p99 and the generator's CPU of throughput runs and the sink as ceiling", () => {
    const markdown = table([
      row('fan-in-qos1', 'throughput', { fluxmq: sample(200_000), mosquitto: sample(100_000) }),
      amqpRow('amqp-to-amqp', 'throughput', { fluxmq: withLatency(50_000, 2500, { generator_cpu: 0.42 }), rabbitmq: withLatency(10_000, 40_000), sink: sample(200_000) }),
    ])
    const [mqtt, amqp] = markdown.split('\n\n')
    expect(mqtt).toContain('| fan-in-qos1 |')
    expect(mqtt).not.toContain('amqp-to-amqp')
    expect(amqp.split('\n')[0]).toBe('| AMQP scenario | FluxMQ | RabbitMQ | FluxMQ/RabbitMQ | Sink ceiling |')
    expect(amqp).toContain('| amqp-to-amqp | 50.0k/s, p99 2.5 ms, generator CPU 42% | 10.0k/s, p99 40.0 ms | 5.00× | 200.0k/s accepted, 4.0× the fastest broker')
  })

  it('check issue 12: at least 5× RabbitMQ and nothing lost, not the MQTT targets', () => {
    const verdicts = targets([amqpRow('amqp-to-mqtt', 'throughput', { fluxmq: sample(40_000), rabbitmq: sample(10_000) })])
    expect(verdicts).toEqual([
      { name: 'amqp-to-mqtt: FluxMQ ≥ 5× RabbitMQ', verdict: 'FAIL' },
      { name: 'amqp-to-mqtt: FluxMQ ran every repetition and lost nothing', verdict: 'PASS' },
    ])
  })
})
