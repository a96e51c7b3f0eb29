/**
 * Polls `check` every 10 ms until it holds; rejects naming `what` after `timeoutMs`. For waits on
 * state a test cannot await as an event (another node's view, a store read back).
 */
export async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}
