// Summarizes a V8 .cpuprofile (node --cpu-prof) by self time: where the broker's CPU went,
// frame by frame, without opening DevTools.

function frameName({ functionName, url, lineNumber }) {
  const file = url ? url.replace(/^file:\/\//, '').replace(/^.*\/node_modules\//, '') : ''
  const where = file ? ` ${file}:${lineNumber + 1}` : ''
  return `${functionName || '(anonymous)'}${where}`
}

/** The `limit` frames with the most self time: [{ frame, selfMs, percent }]. */
export function topFrames(profile, limit = 20) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const self = new Map()
  let total = 0
  // timeDeltas[i] is the time since the previous sample: it belongs to samples[i]'s frame.
  profile.samples.forEach((id, index) => {
    const delta = Math.max(0, profile.timeDeltas[index] ?? 0)
    const name = frameName(byId.get(id).callFrame)
    self.set(name, (self.get(name) ?? 0) + delta)
    total += delta
  })
  return [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([frame, micros]) => ({ frame, selfMs: micros / 1000, percent: total > 0 ? (100 * micros) / total : 0 }))
}

export function formatTopFrames(frames) {
  return frames.map(({ frame, selfMs, percent }) => `${percent.toFixed(1).padStart(5)}%  ${selfMs.toFixed(0).padStart(7)} ms  ${frame}`).join('\n')
}
