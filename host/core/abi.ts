/** The ABI constants, shared verbatim with the AssemblyScript core. */
export * from "../../assembly/abi.js";
