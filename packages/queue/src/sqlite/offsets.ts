/** A list of offsets as a `group_acks` blob: float64 little-endian each (offsets stay below 2^53). */
export function encodeOffsets(offsets: readonly number[]): Buffer {
  const blob = Buffer.allocUnsafe(offsets.length * 8)
  for (let i = 0; i < offsets.length; i++) blob.writeDoubleLE(offsets[i] as number, i * 8)
  return blob
}

export function decodeOffsets(blob: Buffer): number[] {
  const offsets: number[] = []
  for (let at = 0; at + 8 <= blob.length; at += 8) offsets.push(blob.readDoubleLE(at))
  return offsets
}
