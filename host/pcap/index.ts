/** Capture files (pcap, pcapng): reading, writing and replaying them through the engine. */
export { CaptureReader, type CaptureInterface, type ReaderOptions } from "./read.js";
export { CaptureWriter, type CaptureWriterOptions } from "./write.js";
export { CaptureError } from "./errors.js";
export { IngressResolver, IngressMapError, type IngressMap } from "./ingress.js";
export { decodeLink, LinkInfo, kindName, parseMac, formatMac } from "./link.js";
export { replayCapture, CapturedFrame, type CaptureSink, type CaptureStats, type CaptureReplayOptions } from "./replay.js";
export * as captureFormat from "./format.js";
