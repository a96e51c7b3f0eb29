/** A typed set of callbacks; `add` returns the function that removes the one it added. */
export class Listeners<T extends unknown[]> {
  private readonly set = new Set<(...args: T) => void>()

  add(listener: (...args: T) => void): () => void {
    this.set.add(listener)
    return () => this.set.delete(listener)
  }

  emit(...args: T): void {
    for (const listener of [...this.set]) listener(...args)
  }
}
