import { memoryStore } from '../../src/store/memory.js';
import { runStoreConformance } from '../../src/testing/store-conformance.js';

runStoreConformance({ name: 'memoryStore', createStore: () => memoryStore() });
