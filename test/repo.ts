/** Places in the repository the tests share: its root, the built CLI (`npm run build`), the snapshot script. */
import { fileURLToPath } from "node:url";

/** The repository's root directory (with a trailing slash). */
export const ROOT = fileURLToPath(new URL("..", import.meta.url));
/** The nodeplane command as built into dist/. */
export const CLI = fileURLToPath(new URL("../dist/host/cli/main.js", import.meta.url));
/** scripts/nodeplane-snapshot.sh, which takes a node's snapshot (run inside a namespace by the kernel tests). */
export const SNAPSHOT_SCRIPT = fileURLToPath(new URL("../scripts/nodeplane-snapshot.sh", import.meta.url));
