/**
 * Synthetic traffic for a node: the spec (spec.ts), the node view
 * (view.ts), the generator that writes packet descriptors in virtual-time
 * order with a closed loop through the engine (generate.ts: set-up on the
 * host, the per-packet and per-flow logic in the core, assembly/traffic/),
 * and JSONL dumps for replay (jsonl.ts).
 */
export { loadTrafficSpec, parseTrafficSpec, DIRECTIONS, FLOW_KINDS, type TrafficSpec, type FlowKind, type Direction, type Population } from "./spec.js";
export { nodeViewFromSnapshot, type NodeView, type ViewPod, type ViewEni, type ViewService, type FrontendKind } from "./view.js";
export { TrafficGenerator, createGenerator, type TrafficStats, type GeneratorOptions } from "./generate.js";
export { descriptorToPacketInput, runTraffic, writeTrafficJsonl, type TrafficRun } from "./jsonl.js";
export { DistSampler, Zipf, type Dist } from "./distributions.js";
