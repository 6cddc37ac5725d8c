/**
 * Reading and validating a cluster file (see examples/README.md for the
 * format). Every problem is an InputError naming the file, line, column and
 * the key or value at fault.
 */
import { fsErrorText } from "../util/fs.js";
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, join, normalize, resolve } from "node:path";
import type { LocalDetector, RandomizeSnat } from "../k8s/model.js";
import { InputError } from "../snapshot/errors.js";
import { inPrefix, maskOf, parseCidr, parseIPv4 } from "../util/ipv4.js";
import { INSTANCE_TYPES } from "./instance-types.js";
import { readK8sObject, type K8sObjects } from "./k8s-objects.js";
import type { AwsNodeSettings, ClusterSpec, KubeProxySettings, NodeSpec, PodSpec, SpecPos, SubnetSpec } from "./spec.js";
import { checkCidr, didYouMean, readDocuments, type YValue } from "./yaml-reader.js";

const TOP = ["apiVersion", "kind", "name", "vpc", "subnets", "nodes", "awsNode", "kubeProxy", "pods", "kubernetes"];

/** aws-node environment variables nodeplane models. */
export const AWS_NODE_ENV = [
  "AWS_VPC_K8S_CNI_EXTERNALSNAT", "AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS", "AWS_VPC_K8S_CNI_RANDOMIZESNAT",
  "AWS_VPC_K8S_CNI_CONNMARK", "WARM_ENI_TARGET", "WARM_IP_TARGET", "MINIMUM_IP_TARGET", "WARM_PREFIX_TARGET",
  "ENABLE_PREFIX_DELEGATION", "AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG", "AWS_VPC_K8S_CNI_VETHPREFIX", "AWS_VPC_CNI_NODE_PORT_SUPPORT",
] as const;

export async function loadClusterFile(path: string): Promise<ClusterSpec> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    throw new InputError(path, 0, "", `cannot read the cluster file: ${fsErrorText(e)}`);
  }
  return parseClusterText(text, path);
}

function posOf(v: YValue): SpecPos {
  const { line, col } = v.src.lines.linePos(v.offset);
  return { file: v.src.file, line, column: col, text: v.src.text.split("\n")[line - 1] ?? "" };
}

/** An InputError at a recorded position. */
export function errorAtPos(p: SpecPos, token: string, problem: string): InputError {
  const i = p.text.indexOf(token, Math.max(0, p.column - 1));
  return new InputError(p.file, p.line, token, problem, p.text, i >= 0 && token ? i + 1 : p.column);
}

/** Go's strconv.ParseBool, which ipamd uses for its boolean variables. */
function envBool(v: YValue): boolean {
  const s = v.envText();
  if (["1", "t", "T", "TRUE", "true", "True"].includes(s)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(s)) return false;
  throw v.error("not a boolean (true/false)");
}

function envInt(v: YValue): number {
  const s = v.envText();
  if (!/^[0-9]+$/.test(s)) throw v.error("not a non-negative integer");
  return Number(s);
}

export function parseClusterText(text: string, file: string): ClusterSpec {
  const docs = readDocuments(text, file);
  if (docs.length !== 1) throw new InputError(file, 1, "", `a cluster file holds one YAML document (found ${docs.length})`);
  const root = docs[0];
  const top = root.map(TOP);
  const need = (k: string) => {
    const v = top.get(k);
    if (!v) throw root.error(`missing "${k}"`, "");
    return v;
  };
  const kind = top.get("kind");
  if (kind && kind.str() !== "Cluster") throw kind.error('kind must be "Cluster"');

  // ---- vpc
  const vpc = need("vpc").map(["cidrs"]);
  const cidrsV = vpc.get("cidrs");
  if (!cidrsV) throw need("vpc").error('missing "cidrs"', "");
  const cidrItems = cidrsV.seq();
  if (cidrItems.length === 0) throw cidrsV.error("at least one VPC CIDR (the primary) is needed");
  const vpcCidrs = cidrItems.map((v) => v.cidr());

  // ---- subnets
  const subnets: SubnetSpec[] = [];
  for (const sv of need("subnets").seq()) {
    const s = sv.map(["id", "cidr", "az"]);
    const req = (k: string) => { const v = s.get(k); if (!v) throw sv.error(`missing "${k}"`, ""); return v; };
    const idV = req("id");
    const cidrV = req("cidr");
    const cidr = cidrV.cidr();
    const c = parseCidr(cidr)!;
    if (c.plen > 28 || c.plen < 16) throw cidrV.error("a VPC subnet is from /16 to /28");
    if (!vpcCidrs.some((vc) => { const p = parseCidr(vc)!; return p.plen <= c.plen && inPrefix(c.addr, p.addr, p.plen); })) {
      throw cidrV.error(`not inside any VPC CIDR (${vpcCidrs.join(", ")})`);
    }
    const id = idV.name();
    if (subnets.some((x) => x.id === id)) throw idV.error("duplicate subnet id");
    for (const o of subnets) {
      const q = parseCidr(o.cidr)!;
      if (inPrefix(c.addr, q.addr, Math.min(q.plen, c.plen))) throw cidrV.error(`overlaps subnet ${o.id} (${o.cidr})`);
    }
    subnets.push({ id, cidr, az: req("az").name(), pos: posOf(sv) });
  }
  const subnetIds = subnets.map((s) => s.id);
  const checkSubnet = (v: YValue) => {
    const id = v.name();
    if (!subnetIds.includes(id)) {
      const near = didYouMean(id, subnetIds);
      throw v.error(`no such subnet${near ? ` (did you mean "${near}"?)` : ""}`);
    }
    return id;
  };

  // ---- nodes
  const nodes: NodeSpec[] = [];
  const types = [...INSTANCE_TYPES.keys()];
  for (const nv of need("nodes").seq()) {
    const n = nv.map(["name", "instanceType", "subnet", "primaryIP"]);
    const req = (k: string) => { const v = n.get(k); if (!v) throw nv.error(`missing "${k}"`, ""); return v; };
    const nameV = req("name");
    const name = nameV.name();
    if (nodes.some((x) => x.name === name)) throw nameV.error("duplicate node name");
    const typeV = req("instanceType");
    const it = typeV.name();
    if (!INSTANCE_TYPES.has(it)) {
      const near = didYouMean(it, types);
      throw typeV.error(`unknown instance type${near ? ` (did you mean "${near}"?)` : ""}`);
    }
    const subnet = checkSubnet(req("subnet"));
    const node: NodeSpec = { name, instanceType: it, subnet, pos: posOf(nv) };
    const ipV = n.get("primaryIP");
    if (ipV) {
      const ip = ipV.ip();
      const sn = parseCidr(subnets.find((s) => s.id === subnet)!.cidr)!;
      const a = parseIPv4(ip)!;
      if (!inPrefix(a, sn.addr, sn.plen)) throw ipV.error(`not in subnet ${subnet}`);
      const off = (a - sn.addr) >>> 0;
      const last = ~maskOf(sn.plen) >>> 0;
      if (off < 4 || off === last) throw ipV.error("AWS reserves the first four and the last address of a subnet");
      if (nodes.some((x) => x.primaryIP === ip)) throw ipV.error("already the primary IP of another node");
      node.primaryIP = ip;
    }
    nodes.push(node);
  }

  // ---- aws-node
  const awsNode: AwsNodeSettings = {
    externalSnat: false, excludeSnatCidrs: [], randomizeSnat: "prng", connmark: 0x80, warmEniTarget: 1, warmIpTarget: 0,
    minimumIpTarget: 0, warmPrefixTarget: 1, prefixDelegation: false, customNetworking: false, eniConfigs: new Map(),
    vethPrefix: "eni", nodePortSupport: true,
  };
  const awsV = top.get("awsNode");
  if (awsV && !awsV.isNull) {
    const a = awsV.map(["env", "eniConfigs"]);
    const envV = a.get("env");
    if (envV && !envV.isNull) {
      for (const [k, v] of envV.map(AWS_NODE_ENV)) {
        switch (k as (typeof AWS_NODE_ENV)[number]) {
          case "AWS_VPC_K8S_CNI_EXTERNALSNAT": awsNode.externalSnat = envBool(v); break;
          case "AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS": {
            const s = v.envText();
            awsNode.excludeSnatCidrs = s.trim() === "" ? [] : s.split(",").map((x) => checkCidr(x.trim(), (p) => v.error(p, x.trim())));
            break;
          }
          case "AWS_VPC_K8S_CNI_RANDOMIZESNAT": {
            const s = v.envText();
            if (!["prng", "hashrandom", "none"].includes(s)) throw v.error("must be prng, hashrandom or none");
            awsNode.randomizeSnat = s as RandomizeSnat;
            break;
          }
          case "AWS_VPC_K8S_CNI_CONNMARK": {
            const s = v.envText();
            const n = /^0x[0-9a-fA-F]{1,8}$/.test(s) ? parseInt(s, 16) : /^[0-9]+$/.test(s) ? Number(s) : NaN;
            if (!Number.isInteger(n) || n <= 0 || n > 0xffffffff) throw v.error("not a mark (0x80, 128...)");
            awsNode.connmark = n;
            break;
          }
          case "WARM_ENI_TARGET": awsNode.warmEniTarget = envInt(v); break;
          case "WARM_IP_TARGET": awsNode.warmIpTarget = envInt(v); break;
          case "MINIMUM_IP_TARGET": awsNode.minimumIpTarget = envInt(v); break;
          case "WARM_PREFIX_TARGET": awsNode.warmPrefixTarget = envInt(v); break;
          case "ENABLE_PREFIX_DELEGATION": awsNode.prefixDelegation = envBool(v); break;
          case "AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG": awsNode.customNetworking = envBool(v); break;
          case "AWS_VPC_K8S_CNI_VETHPREFIX": {
            const s = v.envText();
            // ipamd: at most 4 characters, not "eth"/"vlan"/"lo"
            if (!/^[a-z0-9]{1,4}$/.test(s) || ["eth", "vlan", "lo"].includes(s)) throw v.error("1-4 lowercase letters/digits, not eth, vlan or lo");
            awsNode.vethPrefix = s;
            break;
          }
          case "AWS_VPC_CNI_NODE_PORT_SUPPORT": awsNode.nodePortSupport = envBool(v); break;
        }
      }
    }
    const ec = a.get("eniConfigs");
    if (ec && !ec.isNull) {
      const raw = ec.node as { items?: { key: { value: unknown } }[] } | null;
      const names = (raw?.items ?? []).map((p) => String(p.key?.value));
      for (const [az, v] of ec.map(names)) {
        const spec = v.map(["subnet", "securityGroups"]);
        const sv = spec.get("subnet");
        if (!sv) throw v.error('missing "subnet"', "");
        awsNode.eniConfigs.set(az, checkSubnet(sv));
      }
    }
  }
  if (awsNode.customNetworking) {
    for (const n of nodes) {
      const az = subnets.find((s) => s.id === n.subnet)!.az;
      if (!awsNode.eniConfigs.has(az)) {
        throw errorAtPos(n.pos, "", `node ${n.name}: custom networking is on and there is no ENIConfig for its availability zone ${az} (awsNode.eniConfigs)`);
      }
    }
  }

  // ---- kube-proxy
  const kubeProxy: KubeProxySettings = { masqueradeBit: 14, masqueradeAll: false, localDetector: { mode: "none" } };
  const kpV = top.get("kubeProxy");
  if (kpV && !kpV.isNull) {
    const k = kpV.map(["mode", "masqueradeBit", "masqueradeAll", "clusterCIDR", "detectLocalMode", "interfaceNamePrefix", "nodePortAddresses"]);
    const mode = k.get("mode");
    if (mode && mode.str() !== "iptables") throw mode.error('only mode "iptables" is modelled');
    if (k.get("masqueradeBit")) kubeProxy.masqueradeBit = k.get("masqueradeBit")!.int(0, 31);
    if (k.get("masqueradeAll")) kubeProxy.masqueradeAll = k.get("masqueradeAll")!.bool();
    const cc = k.get("clusterCIDR");
    const clusterCIDR = cc && !cc.isNull && cc.str() !== "" ? cc.cidr() : "";
    const dlm = k.get("detectLocalMode");
    const dl = dlm ? dlm.str() : "ClusterCIDR";
    let det: LocalDetector;
    if (dl === "ClusterCIDR") det = clusterCIDR ? { mode: "clusterCIDR", cidr: clusterCIDR } : { mode: "none" };
    else if (dl === "InterfaceNamePrefix") {
      const p = k.get("interfaceNamePrefix");
      if (!p) throw dlm!.error('InterfaceNamePrefix needs "interfaceNamePrefix"');
      det = { mode: "interfaceNamePrefix", prefix: p.name() };
    } else throw dlm!.error("detectLocalMode ClusterCIDR or InterfaceNamePrefix is modelled");
    kubeProxy.localDetector = det;
    const npa = k.get("nodePortAddresses");
    if (npa && !npa.isNull) {
      const items = npa.seq().map((v) => (v.isString() && v.str() === "primary" ? "primary" : v.cidr()));
      if (items.length > 0) kubeProxy.nodePortAddresses = items;
    }
  }

  // ---- pods
  const pods: PodSpec[] = [];
  const seen = new Set<string>();
  const podsV = top.get("pods");
  const nodeNames = nodes.map((n) => n.name);
  for (const pv of podsV && !podsV.isNull ? podsV.seq() : []) {
    const p = pv.map(["name", "namespace", "node", "hostNetwork"]);
    const nameV = p.get("name");
    if (!nameV) throw pv.error('missing "name"', "");
    const nodeV = p.get("node");
    if (!nodeV) throw pv.error('missing "node"', "");
    const node = nodeV.name();
    if (!nodeNames.includes(node)) {
      const near = didYouMean(node, nodeNames);
      throw nodeV.error(`no such node${near ? ` (did you mean "${near}"?)` : ""}`);
    }
    const name = nameV.name();
    const namespace = p.get("namespace")?.name() ?? "default";
    if (seen.has(`${namespace}/${name}`)) throw nameV.error(`duplicate pod ${namespace}/${name}`);
    seen.add(`${namespace}/${name}`);
    pods.push({ name, namespace, node, hostNetwork: p.get("hostNetwork")?.bool() ?? false, pos: posOf(pv) });
  }

  // ---- Kubernetes objects
  const objs: K8sObjects = { services: [], servicePos: [], slices: [], notes: [] };
  const kV = top.get("kubernetes");
  for (const item of kV && !kV.isNull ? kV.seq() : []) {
    if (item.isString()) {
      const rel = item.name();
      const path = resolve(dirname(file), rel);
      let t: string;
      try {
        t = readFileSync(path, "utf8");
      } catch (e) {
        throw item.error(`cannot read ${path}: ${fsErrorText(e)}`);
      }
      const shown = rel.startsWith("/") ? rel : normalize(join(dirname(file), rel));
      for (const d of readDocuments(t, shown)) readK8sObject(d, objs);
    } else {
      readK8sObject(item, objs);
    }
  }
  const svcKeys = new Set<string>();
  for (const [i, s] of objs.services.entries()) {
    const key = `${s.namespace}/${s.name}`;
    if (svcKeys.has(key)) throw errorAtPos(objs.servicePos[i], "", `duplicate Service ${key}`);
    svcKeys.add(key);
  }
  for (const sl of objs.slices) {
    if (!svcKeys.has(`${sl.namespace}/${sl.service}`)) {
      objs.notes.push(`EndpointSlice ${sl.namespace}/${sl.name} ignored: no Service ${sl.namespace}/${sl.service}`);
    }
  }

  return {
    file, name: top.get("name")?.name() ?? "cluster", vpcCidrs, subnets, nodes, awsNode, kubeProxy, pods,
    services: objs.services, endpointSlices: objs.slices.filter((sl) => svcKeys.has(`${sl.namespace}/${sl.service}`)), notes: objs.notes,
  };
}
