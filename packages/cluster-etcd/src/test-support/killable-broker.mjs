// A stand-in for a broker process that embeds an etcd member: starts one from the built package,
// prints the member's pid, and waits to be SIGKILLed, which leaves the member behind as an orphan.
import process from 'node:process'
import { setInterval } from 'node:timers'
import { EtcdMember } from '../../dist/index.js'

const options = JSON.parse(process.argv[2])
const quiet = { debug() {}, info() {}, warn() {}, error() {}, child: () => quiet }
const member = new EtcdMember({ ...options, logger: quiet })
await member.start()
process.stdout.write(`${member.pid}\n`)
setInterval(() => {}, 60_000)
