import { spawn } from 'node:child_process'

/**
 * Runs `node script ...args` and hands each line it writes to stdout to `onLine`; once `onLine`
 * returns true the child is SIGKILLed mid-work, and the promise resolves when it is gone. Rejects
 * with its stderr when the child exits by itself first. For crash tests: the child reports what
 * it has made durable, the test kills it and checks what a restart finds.
 */
export function runUntilKilled(script: string, args: readonly string[], onLine: (line: string) => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let buffered = ''
    let stderr = ''
    proc.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    proc.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString()
      const lines = buffered.split('\n')
      buffered = lines.pop() ?? ''
      // Every line is read, also after the decision to kill: the last reports count too.
      let kill = false
      for (const line of lines) kill = onLine(line) || kill
      if (kill) proc.kill('SIGKILL')
    })
    proc.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve()
      else reject(new Error(`${script} exited before it was killed (code ${code}): ${stderr}`))
    })
  })
}
