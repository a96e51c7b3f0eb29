import { MemoryStorage } from '@fluxmq/core'
import { storageConformanceSuite } from './conformance.js'

// No reopen: the suite closes and re-opens the same instance, whose memory is its disk.
storageConformanceSuite('MemoryStorage', async () => ({ storage: new MemoryStorage(), cleanup: async () => undefined }))
