/**
 * Kubernetes Services (v1) and EndpointSlices (discovery.k8s.io/v1) as
 * `kubectl get -o yaml` prints them: one object per document, or a
 * `kind: List` with `items`. Every field of the real API objects is
 * accepted; the ones kube-proxy reads are kept (pkg/proxy/servicechangetracker.go,
 * endpointslicecache.go). A key the API does not have is an error.
 */
import type { K8sLoadBalancerIngress, K8sService, K8sServicePort, ServiceProtocol } from "../k8s/model.js";
import type { EndpointSliceSpec, SliceEndpoint, SpecPos } from "./spec.js";
import { checkCidr, type YValue } from "./yaml-reader.js";

const OBJECT_META = ["name", "namespace", "uid", "resourceVersion", "creationTimestamp", "labels", "annotations", "managedFields",
  "generation", "ownerReferences", "finalizers", "generateName", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"];
const SERVICE_SPEC = ["type", "clusterIP", "clusterIPs", "externalIPs", "ports", "selector", "externalTrafficPolicy",
  "internalTrafficPolicy", "sessionAffinity", "sessionAffinityConfig", "loadBalancerIP", "loadBalancerSourceRanges",
  "loadBalancerClass", "healthCheckNodePort", "ipFamilies", "ipFamilyPolicy", "allocateLoadBalancerNodePorts",
  "publishNotReadyAddresses", "externalName", "trafficDistribution"];
const SERVICE_PORT = ["name", "protocol", "port", "targetPort", "nodePort", "appProtocol"];

export interface K8sObjects {
  services: K8sService[];
  /** Where each service was written (parallel to services). */
  servicePos: SpecPos[];
  slices: EndpointSliceSpec[];
  notes: string[];
}

/** Reads the objects of one document (recursing into `kind: List`). */
export function readK8sObject(doc: YValue, out: K8sObjects): void {
  const head = doc.map(["apiVersion", "kind", "metadata", "spec", "status", "items", "endpoints", "ports", "addressType", "subsets"]);
  const kindV = head.get("kind");
  if (!kindV) throw doc.error('missing "kind"');
  const kind = kindV.name();
  const keys = [...head.keys()];
  const only = (allowed: string[]) => {
    for (const k of keys) if (!allowed.includes(k)) throw head.get(k)!.error(`not a field of ${kind}`, k);
  };
  switch (kind) {
    case "List":
    case "ServiceList":
    case "EndpointSliceList":
      only(["apiVersion", "kind", "metadata", "items"]);
      for (const item of head.get("items")?.seq() ?? []) readK8sObject(item, out);
      return;
    case "Service":
      only(["apiVersion", "kind", "metadata", "spec", "status"]);
      out.services.push(readService(head));
      out.servicePos.push(posOf(doc));
      return;
    case "EndpointSlice":
      only(["apiVersion", "kind", "metadata", "endpoints", "ports", "addressType"]);
      readSlice(head, out);
      return;
    case "Endpoints": {
      only(["apiVersion", "kind", "metadata", "subsets"]);
      const meta = head.get("metadata")?.map(OBJECT_META);
      out.notes.push(`${kindV.src.file}: Endpoints ${meta?.get("namespace")?.str() ?? "default"}/${meta?.get("name")?.str() ?? "?"} ignored: kube-proxy reads EndpointSlices`);
      return;
    }
    default:
      throw kindV.error("unsupported kind (expected Service, EndpointSlice or List)");
  }
}

function metaOf(head: Map<string, YValue>, where: YValue | undefined): { name: string; namespace: string; labels: Map<string, YValue> } {
  const metaV = head.get("metadata");
  if (!metaV) throw (where ?? head.get("kind")!).error('missing "metadata"');
  const m = metaV.map(OBJECT_META);
  const nameV = m.get("name");
  if (!nameV) throw metaV.error('missing "name"');
  const labels = new Map<string, YValue>();
  const lv = m.get("labels");
  if (lv && !lv.isNull) {
    const raw = lv.node as { items?: { key: { value: unknown } }[] } | null;
    const keys = (raw?.items ?? []).map((p) => String(p.key?.value));
    for (const [k, v] of lv.map(keys)) labels.set(k, v);
  }
  return { name: nameV.name(), namespace: m.get("namespace")?.name() ?? "default", labels };
}

function readService(head: Map<string, YValue>): K8sService {
  const meta = metaOf(head, undefined);
  const specV = head.get("spec");
  if (!specV) throw head.get("kind")!.error('Service: missing "spec"');
  const spec = specV.map(SERVICE_SPEC);
  const typeV = spec.get("type");
  const type = typeV ? typeV.str() : "ClusterIP";
  if (type !== "ClusterIP" && type !== "NodePort" && type !== "LoadBalancer" && type !== "ExternalName") {
    throw typeV!.error("unknown Service type (ClusterIP, NodePort, LoadBalancer, ExternalName)");
  }
  const clusterIPV = spec.get("clusterIP");
  let clusterIP = "";
  if (clusterIPV && !clusterIPV.isNull) {
    clusterIP = clusterIPV.str();
    if (clusterIP !== "None" && clusterIP !== "") clusterIPV.ip();
  }
  const ports: K8sServicePort[] = [];
  for (const pv of spec.get("ports")?.seq() ?? []) {
    const p = pv.map(SERVICE_PORT);
    const portV = p.get("port");
    if (!portV) throw pv.error('missing "port"');
    const protoV = p.get("protocol");
    const protocol = protoV ? protoV.str() : "TCP";
    if (protocol !== "TCP" && protocol !== "UDP" && protocol !== "SCTP") throw protoV!.error("protocol must be TCP, UDP or SCTP");
    const sp: K8sServicePort = { protocol: protocol as ServiceProtocol, port: portV.int(1, 65535) };
    const n = p.get("name");
    if (n && !n.isNull) sp.name = n.str();
    const np = p.get("nodePort");
    if (np && !np.isNull) sp.nodePort = np.int(0, 65535);
    const tp = p.get("targetPort");
    if (tp && !tp.isNull) sp.targetPort = tp.isString() ? tp.str() : tp.int(1, 65535);
    ports.push(sp);
  }
  const svc: K8sService = {
    namespace: meta.namespace, name: meta.name,
    // ExternalName services have no clusterIP: kube-proxy skips them
    type: type === "ExternalName" ? "ClusterIP" : type,
    clusterIP: type === "ExternalName" ? "" : clusterIP,
    ports,
  };
  const policy = (key: string) => {
    const v = spec.get(key);
    if (!v || v.isNull) return undefined;
    const s = v.str();
    if (s !== "Cluster" && s !== "Local") throw v.error("must be Cluster or Local");
    return s;
  };
  const etp = policy("externalTrafficPolicy");
  if (etp) svc.externalTrafficPolicy = etp;
  const itp = policy("internalTrafficPolicy");
  if (itp) svc.internalTrafficPolicy = itp;
  const sa = spec.get("sessionAffinity");
  if (sa && !sa.isNull) {
    const s = sa.str();
    if (s !== "None" && s !== "ClientIP") throw sa.error("must be None or ClientIP");
    svc.sessionAffinity = s;
  }
  const sac = spec.get("sessionAffinityConfig");
  if (sac && !sac.isNull) {
    const ci = sac.map(["clientIP"]).get("clientIP");
    const t = ci?.map(["timeoutSeconds"]).get("timeoutSeconds");
    if (t) svc.sessionAffinityTimeoutSeconds = t.int(1, 86400);
  }
  const eips = spec.get("externalIPs");
  if (eips && !eips.isNull) svc.externalIPs = eips.seq().map((v) => v.ip());
  const lsr = spec.get("loadBalancerSourceRanges");
  if (lsr && !lsr.isNull) svc.loadBalancerSourceRanges = lsr.seq().map((v) => checkCidr(v.str().trim(), (p) => v.error(p)));
  const hc = spec.get("healthCheckNodePort");
  if (hc && !hc.isNull) svc.healthCheckNodePort = hc.int(0, 65535);
  const status = head.get("status");
  if (status && !status.isNull) {
    const st = status.map(["loadBalancer", "conditions"]);
    const lb = st.get("loadBalancer");
    if (lb && !lb.isNull) {
      const ingress = lb.map(["ingress"]).get("ingress");
      if (ingress && !ingress.isNull) {
        svc.loadBalancerIngress = ingress.seq().map((iv) => {
          const i = iv.map(["ip", "hostname", "ipMode", "ports"]);
          const out: K8sLoadBalancerIngress = {};
          if (i.get("ip")) out.ip = i.get("ip")!.ip();
          if (i.get("hostname")) out.hostname = i.get("hostname")!.str();
          const mode = i.get("ipMode");
          if (mode) {
            const m = mode.str();
            if (m !== "VIP" && m !== "Proxy") throw mode.error("must be VIP or Proxy");
            out.ipMode = m;
          }
          return out;
        });
      }
    }
  }
  return svc;
}

function posOf(v: YValue): SpecPos {
  const { line, col } = v.src.lines.linePos(v.offset);
  return { file: v.src.file, line, column: col, text: v.src.text.split("\n")[line - 1] ?? "" };
}

function readSlice(head: Map<string, YValue>, out: K8sObjects): void {
  const meta = metaOf(head, undefined);
  const at = head.get("addressType");
  const addressType = at ? at.str() : "";
  if (addressType === "IPv6" || addressType === "FQDN") {
    out.notes.push(`${at!.src.file}: EndpointSlice ${meta.namespace}/${meta.name} skipped: addressType ${addressType} (nodeplane is IPv4 only)`);
    return;
  }
  if (addressType !== "IPv4") throw (at ?? head.get("kind")!).error('addressType must be IPv4, IPv6 or FQDN', addressType);
  const svcLabel = meta.labels.get("kubernetes.io/service-name");
  if (!svcLabel) throw head.get("metadata")!.error('EndpointSlice without the "kubernetes.io/service-name" label (kube-proxy ignores such slices; remove it or add the label)');
  const ports: EndpointSliceSpec["ports"] = [];
  const portsV = head.get("ports");
  if (portsV && !portsV.isNull) {
    for (const pv of portsV.seq()) {
      const p = pv.map(["name", "port", "protocol", "appProtocol"]);
      const portV = p.get("port");
      if (!portV) throw pv.error('missing "port"');
      const protoV = p.get("protocol");
      const protocol = protoV ? protoV.str() : "TCP";
      if (protocol !== "TCP" && protocol !== "UDP" && protocol !== "SCTP") throw protoV!.error("protocol must be TCP, UDP or SCTP");
      const n = p.get("name");
      ports.push({ name: n && !n.isNull ? n.str() : "", port: portV.int(1, 65535), protocol });
    }
  }
  const endpoints: SliceEndpoint[] = [];
  const epsV = head.get("endpoints");
  if (epsV && !epsV.isNull) {
    for (const ev of epsV.seq()) {
      const e = ev.map(["addresses", "conditions", "nodeName", "zone", "hostname", "targetRef", "hints", "deprecatedTopology"]);
      const addrV = e.get("addresses");
      if (!addrV) throw ev.error('missing "addresses"');
      const addrs = addrV.seq();
      if (addrs.length !== 1) throw addrV.error(`an endpoint has exactly one address (found ${addrs.length})`);
      // discovery/v1: a nil ready means ready; nil serving means as ready; nil terminating means false
      let ready = true;
      let serving: boolean | undefined;
      let terminating = false;
      const cv = e.get("conditions");
      if (cv && !cv.isNull) {
        const c = cv.map(["ready", "serving", "terminating"]);
        if (c.get("ready")) ready = c.get("ready")!.bool();
        if (c.get("serving")) serving = c.get("serving")!.bool();
        if (c.get("terminating")) terminating = c.get("terminating")!.bool();
      }
      const ep: SliceEndpoint = { address: addrs[0].ip(), ready, serving: serving ?? ready, terminating, pos: posOf(addrs[0]) };
      const nn = e.get("nodeName");
      if (nn && !nn.isNull) ep.nodeName = nn.name();
      const tr = e.get("targetRef");
      if (tr && !tr.isNull) {
        const t = tr.map(["kind", "name", "namespace", "uid", "apiVersion", "resourceVersion", "fieldPath"]);
        if (t.get("kind")?.str() === "Pod" && t.get("name")) {
          ep.pod = { name: t.get("name")!.name(), namespace: t.get("namespace")?.name() ?? meta.namespace };
        }
      }
      endpoints.push(ep);
    }
  }
  out.slices.push({ namespace: meta.namespace, name: meta.name, service: svcLabel.name(), ports, endpoints });
}
