/**
 * nodeplane as a library. Everything here runs in Node and in browsers (the
 * core is fetched from build/core.wasm next to the package, or pass your own
 * compiled module to Engine.create). Reading snapshot directories from disk
 * is in "nodeplane/node".
 */
export { Engine, COUNTER_NAMES, type EngineOptions } from "./engine.js";
export { parseSnapshotFiles, REQUIRED_FILES, OPTIONAL_FILES } from "./snapshot/files.js";
export { InputError, isInputError } from "./snapshot/errors.js";
export { parseIpsetSave, type IpSets, type IpSetDef, type IpSetElem, type IpSetType } from "./ipset/parse.js";
export { parseRouteGetArgs, routeGet, type RouteGetQuery, type RouteGetAnswer } from "./route/get.js";
export type { PacketInput } from "./packet/input.js";
export { DROP_NAMES, DROP_TEXT, type PacketResult, type ReplyResult } from "./packet/result.js";
export type { NodeSnapshot, Link, IfAddr, Route, Rule, Socket, SourceRef } from "./model/node.js";
export type { LoadedNode } from "./node/compile.js";
export * as abi from "./core/abi.js";
