/**
 * The observer hooks (inventory of live hosts/stacks/sockets, `observers.trace`) live in
 * src/observe/inventory.ts, below the layers that report to them; this module re-exports
 * them for metrics code and for callers that imported them from here.
 */
export * from '../observe/inventory.js';
