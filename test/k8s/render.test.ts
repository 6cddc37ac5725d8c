/**
 * The EKS node iptables renderer (host/k8s): kube-proxy chain hashing and
 * probabilities against the reference's worked examples, golden rules for
 * small clusters, the VPC CNI variants, and the kernel as referee: every
 * rendered ruleset must load with iptables-legacy-restore and come back from
 * iptables-legacy-save byte for byte (header/footer comments and counters
 * aside).
 */
import { describe, it, expect } from "vitest";
import { spawnSync } from "node:child_process";
import { describeKernel } from "../kernel/kernel-gate.js";
import { run } from "../kernel/netns.js";
import {
  endpointChainName,
  formatFixedExact,
  portProtoHash,
  probability,
  renderKubeProxy,
  serviceChainNames,
} from "../../host/k8s/kube-proxy.js";
import { renderVpcCni } from "../../host/k8s/vpc-cni.js";
import { renderNodeIptables, syntheticCluster } from "../../host/k8s/iptables.js";
import { saveString, type K8sEndpoint, type K8sService, type KubeProxyOptions, type VpcCniOptions } from "../../host/k8s/model.js";

// ---------------------------------------------------------------------------
// helpers

const NODE = "ip-10-0-42-17.ec2.internal";
const NODE_IP = "10.0.42.17";
const KP: KubeProxyOptions = { nodeName: NODE, nodeIPs: [NODE_IP] };
const CNI: VpcCniOptions = { primaryIp: NODE_IP, vpcCidrs: ["10.0.0.0/16"] };

function tableLines(text: string, table: string): string[] {
  const lines = text.split("\n");
  const start = lines.indexOf(`*${table}`);
  if (start < 0) return [];
  const end = lines.indexOf("COMMIT", start);
  return lines.slice(start + 1, end);
}

function chain(text: string, table: string, name: string): string[] {
  return tableLines(text, table).filter((l) => l === `-A ${name}` || l.startsWith(`-A ${name} `));
}

function ep(ip: string, ports: Record<string, number>, nodeName?: string, state: "ready" | "terminating" | "notready" = "ready"): K8sEndpoint {
  return {
    ip,
    ports,
    nodeName,
    ready: state === "ready",
    serving: state !== "notready",
    terminating: state === "terminating",
  };
}

/** The small cluster of the golden tests. */
function goldenCluster(): { services: K8sService[]; endpoints: Record<string, K8sEndpoint[]> } {
  const other = "ip-10-0-77-1.ec2.internal";
  const services: K8sService[] = [
    { namespace: "default", name: "kubernetes", type: "ClusterIP", clusterIP: "10.100.0.1", ports: [{ name: "https", protocol: "TCP", port: 443 }] },
    {
      namespace: "kube-system",
      name: "kube-dns",
      type: "ClusterIP",
      clusterIP: "10.100.0.10",
      ports: [
        { name: "dns", protocol: "UDP", port: 53 },
        { name: "dns-tcp", protocol: "TCP", port: 53 },
        { name: "metrics", protocol: "TCP", port: 9153 },
      ],
    },
    { namespace: "shop", name: "cart", type: "ClusterIP", clusterIP: "10.100.20.1", ports: [{ name: "http", protocol: "TCP", port: 80 }] },
    { namespace: "shop", name: "catalog", type: "ClusterIP", clusterIP: "10.100.20.2", ports: [{ protocol: "TCP", port: 80 }] },
    { namespace: "shop", name: "web", type: "NodePort", clusterIP: "10.100.20.3", ports: [{ name: "http", protocol: "TCP", port: 80, nodePort: 30080 }] },
    {
      namespace: "shop",
      name: "front",
      type: "LoadBalancer",
      clusterIP: "10.100.20.4",
      externalTrafficPolicy: "Local",
      healthCheckNodePort: 32001,
      loadBalancerIngress: [{ hostname: "k8s-shop-front-0123456789.elb.us-east-1.amazonaws.com" }],
      ports: [{ name: "http", protocol: "TCP", port: 80, nodePort: 30081 }],
    },
    {
      namespace: "shop",
      name: "edge",
      type: "LoadBalancer",
      clusterIP: "10.100.20.5",
      externalTrafficPolicy: "Local",
      healthCheckNodePort: 32002,
      loadBalancerIngress: [{ hostname: "k8s-shop-edge-0123456789.elb.us-east-1.amazonaws.com" }],
      ports: [{ name: "http", protocol: "TCP", port: 80, nodePort: 30082 }],
    },
    {
      namespace: "shop",
      name: "session",
      type: "ClusterIP",
      clusterIP: "10.100.20.6",
      sessionAffinity: "ClientIP",
      sessionAffinityTimeoutSeconds: 600,
      ports: [{ name: "http", protocol: "TCP", port: 80 }],
    },
    { namespace: "shop", name: "empty", type: "NodePort", clusterIP: "10.100.20.7", ports: [{ name: "http", protocol: "TCP", port: 80, nodePort: 30083 }] },
    { namespace: "shop", name: "headless", type: "ClusterIP", clusterIP: "None", ports: [{ name: "http", protocol: "TCP", port: 80 }] },
  ];
  const endpoints: Record<string, K8sEndpoint[]> = {
    "default/kubernetes": [ep("10.0.140.9", { https: 443 }), ep("10.0.101.5", { https: 443 })],
    "kube-system/kube-dns": [
      ep("10.0.77.3", { dns: 53, "dns-tcp": 53, metrics: 9153 }, other),
      ep("10.0.40.11", { dns: 53, "dns-tcp": 53, metrics: 9153 }, NODE),
    ],
    "shop/cart": [ep("10.0.70.4", { http: 8080 }, other)],
    "shop/catalog": [ep("10.0.9.1", { "": 8080 }, other), ep("10.0.100.3", { "": 8080 }, other), ep("10.0.10.2", { "": 8080 }, NODE)],
    "shop/web": [ep("10.0.41.7", { http: 8080 }, NODE), ep("10.0.71.8", { http: 8080 }, other)],
    "shop/front": [ep("10.0.72.1", { http: 8080 }, other), ep("10.0.41.9", { http: 8080 }, NODE)],
    "shop/edge": [ep("10.0.73.2", { http: 8080 }, other), ep("10.0.41.10", { http: 8080 }, NODE, "notready")],
    "shop/session": [ep("10.0.75.2", { http: 8080 }, other), ep("10.0.74.1", { http: 8080 }, other)],
    "shop/empty": [],
    "shop/headless": [ep("10.0.76.1", { http: 8080 }, other)],
  };
  return { services, endpoints };
}

function renderGolden(kp: Partial<KubeProxyOptions> = {}, cni: Partial<VpcCniOptions> = {}): string {
  const g = goldenCluster();
  return renderNodeIptables(renderKubeProxy(g.services, g.endpoints, { ...KP, ...kp }), renderVpcCni({ ...CNI, ...cni }));
}

const sep = (name: string, proto: string, ipPort: string) => endpointChainName(name, proto, ipPort);

// ---------------------------------------------------------------------------
// reference examples

describe("kube-proxy chain names (reference A.6)", () => {
  it("hashes service ports like portProtoHash", () => {
    expect(serviceChainNames("default/kubernetes:https", "tcp").svc).toBe("KUBE-SVC-NPX46M4PTMTKRN6Y");
    expect(serviceChainNames("kube-system/kube-dns:dns", "udp").svc).toBe("KUBE-SVC-TCOU7JCQXEZGVUNU");
    expect(serviceChainNames("kube-system/kube-dns:dns-tcp", "tcp").svc).toBe("KUBE-SVC-ERIFXISQEP7F7OF4");
    // the well-known hash of CoreDNS's metrics port, seen in many published dumps
    expect(serviceChainNames("kube-system/kube-dns:metrics", "tcp").svc).toBe("KUBE-SVC-JD5MR3NA4I4DYORP");
  });
  it("hashes endpoints like servicePortEndpointChainName", () => {
    expect(endpointChainName("ns1/svc1:p80", "tcp", "10.180.0.1:80")).toBe("KUBE-SEP-SXIVWICOYRO3J4NJ");
  });
  it("shares one hash between SVC, SVL, EXT and FW", () => {
    const h = portProtoHash("shop/front:http", "tcp");
    expect(serviceChainNames("shop/front:http", "tcp")).toEqual({ svc: `KUBE-SVC-${h}`, svl: `KUBE-SVL-${h}`, ext: `KUBE-EXT-${h}`, fw: `KUBE-FW-${h}` });
    expect(h).toMatch(/^[A-Z2-7]{16}$/);
  });
});

describe("statistic probabilities (reference A.7)", () => {
  const table: [number, string, number, string][] = [
    [2, "0.5000000000", 1073741824, "0.50000000000"],
    [3, "0.3333333333", 715827883, "0.33333333349"],
    [4, "0.2500000000", 536870912, "0.25000000000"],
    [5, "0.2000000000", 429496730, "0.20000000019"],
    [6, "0.1666666667", 357913941, "0.16666666651"],
    [7, "0.1428571429", 306783378, "0.14285714272"],
    [10, "0.1000000000", 214748365, "0.10000000009"],
  ];
  for (const [n, input, stored, saved] of table) {
    it(`1/${n}: restore input ${input}, stored ${stored}, saved ${saved}`, () => {
      expect(probability(n)).toEqual({ input, stored, saved });
    });
  }
  it("formats exactly, ties to even (Go %0.10f, glibc %.11f)", () => {
    expect(formatFixedExact(1 / 2048, 10)).toBe("0.0004882812"); // exactly ...125: tie, to even
    expect(formatFixedExact(3 / 2048, 10)).toBe("0.0014648438"); // exactly ...375: tie, to even
    expect(formatFixedExact(0.1, 20)).toBe("0.10000000000000000555");
    expect(formatFixedExact(1, 3)).toBe("1.000");
  });
});

describe("iptables-save string quoting", () => {
  it("quotes like xtables_save_string", () => {
    expect(saveString("_x-Y9")).toBe("_x-Y9");
    expect(saveString("a.b")).toBe('"a.b"');
    expect(saveString("")).toBe('""');
    expect(saveString("ns/svc:port")).toBe('"ns/svc:port"');
    expect(saveString(`a'b"c\\d`)).toBe(`"a\\'b\\"c\\\\d"`);
  });
});

// ---------------------------------------------------------------------------
// golden rules

describe("kube-proxy golden rules", () => {
  const text = renderGolden();
  const K = "KUBE-SVC-NPX46M4PTMTKRN6Y";
  const cart = serviceChainNames("shop/cart:http", "tcp");
  const catalog = serviceChainNames("shop/catalog", "tcp");
  const web = serviceChainNames("shop/web:http", "tcp");
  const front = serviceChainNames("shop/front:http", "tcp");
  const edge = serviceChainNames("shop/edge:http", "tcp");
  const session = serviceChainNames("shop/session:http", "tcp");

  it("writes KUBE-SERVICES in service order, the nodeports jump last", () => {
    expect(chain(text, "nat", "KUBE-SERVICES")).toEqual([
      `-A KUBE-SERVICES -d 10.100.0.1/32 -p tcp -m comment --comment "default/kubernetes:https cluster IP" -m tcp --dport 443 -j ${K}`,
      '-A KUBE-SERVICES -d 10.100.0.10/32 -p udp -m comment --comment "kube-system/kube-dns:dns cluster IP" -m udp --dport 53 -j KUBE-SVC-TCOU7JCQXEZGVUNU',
      '-A KUBE-SERVICES -d 10.100.0.10/32 -p tcp -m comment --comment "kube-system/kube-dns:dns-tcp cluster IP" -m tcp --dport 53 -j KUBE-SVC-ERIFXISQEP7F7OF4',
      '-A KUBE-SERVICES -d 10.100.0.10/32 -p tcp -m comment --comment "kube-system/kube-dns:metrics cluster IP" -m tcp --dport 9153 -j KUBE-SVC-JD5MR3NA4I4DYORP',
      `-A KUBE-SERVICES -d 10.100.20.1/32 -p tcp -m comment --comment "shop/cart:http cluster IP" -m tcp --dport 80 -j ${cart.svc}`,
      `-A KUBE-SERVICES -d 10.100.20.2/32 -p tcp -m comment --comment "shop/catalog cluster IP" -m tcp --dport 80 -j ${catalog.svc}`,
      `-A KUBE-SERVICES -d 10.100.20.5/32 -p tcp -m comment --comment "shop/edge:http cluster IP" -m tcp --dport 80 -j ${edge.svc}`,
      `-A KUBE-SERVICES -d 10.100.20.4/32 -p tcp -m comment --comment "shop/front:http cluster IP" -m tcp --dport 80 -j ${front.svc}`,
      `-A KUBE-SERVICES -d 10.100.20.6/32 -p tcp -m comment --comment "shop/session:http cluster IP" -m tcp --dport 80 -j ${session.svc}`,
      `-A KUBE-SERVICES -d 10.100.20.3/32 -p tcp -m comment --comment "shop/web:http cluster IP" -m tcp --dport 80 -j ${web.svc}`,
      '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS',
    ]);
  });

  it("ClusterIP with one endpoint: one unconditional jump, hairpin masq + DNAT", () => {
    const s = sep("shop/cart:http", "tcp", "10.0.70.4:8080");
    expect(chain(text, "nat", cart.svc)).toEqual([`-A ${cart.svc} -m comment --comment "shop/cart:http -> 10.0.70.4:8080" -j ${s}`]);
    expect(chain(text, "nat", s)).toEqual([
      `-A ${s} -s 10.0.70.4/32 -m comment --comment "shop/cart:http" -j KUBE-MARK-MASQ`,
      `-A ${s} -p tcp -m comment --comment "shop/cart:http" -m tcp -j DNAT --to-destination 10.0.70.4:8080`,
    ]);
  });

  it("ClusterIP with three endpoints (unnamed port): endpoints in string order, 1/3 then 1/2", () => {
    expect(chain(text, "nat", catalog.svc)).toEqual([
      `-A ${catalog.svc} -m comment --comment "shop/catalog -> 10.0.10.2:8080" -m statistic --mode random --probability 0.33333333349 -j ${sep("shop/catalog", "tcp", "10.0.10.2:8080")}`,
      `-A ${catalog.svc} -m comment --comment "shop/catalog -> 10.0.100.3:8080" -m statistic --mode random --probability 0.50000000000 -j ${sep("shop/catalog", "tcp", "10.0.100.3:8080")}`,
      `-A ${catalog.svc} -m comment --comment "shop/catalog -> 10.0.9.1:8080" -j ${sep("shop/catalog", "tcp", "10.0.9.1:8080")}`,
    ]);
  });

  it("NodePort with externalTrafficPolicy Cluster: EXT masquerades, then SVC", () => {
    expect(chain(text, "nat", "KUBE-NODEPORTS")).toEqual([
      `-A KUBE-NODEPORTS -p tcp -m comment --comment "shop/edge:http" -m tcp --dport 30082 -j ${edge.ext}`,
      `-A KUBE-NODEPORTS -p tcp -m comment --comment "shop/front:http" -m tcp --dport 30081 -j ${front.ext}`,
      `-A KUBE-NODEPORTS -p tcp -m comment --comment "shop/web:http" -m tcp --dport 30080 -j ${web.ext}`,
    ]);
    expect(chain(text, "nat", web.ext)).toEqual([
      `-A ${web.ext} -m comment --comment "masquerade traffic for shop/web:http external destinations" -j KUBE-MARK-MASQ`,
      `-A ${web.ext} -j ${web.svc}`,
    ]);
    expect(chain(text, "nat", web.svc)).toHaveLength(2);
  });

  it("externalTrafficPolicy Local with a local endpoint: SVL with the local one, health check port open", () => {
    expect(chain(text, "nat", front.ext)).toEqual([
      `-A ${front.ext} -m comment --comment "masquerade LOCAL traffic for shop/front:http external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ`,
      `-A ${front.ext} -m comment --comment "route LOCAL traffic for shop/front:http external destinations" -m addrtype --src-type LOCAL -j ${front.svc}`,
      `-A ${front.ext} -j ${front.svl}`,
    ]);
    expect(chain(text, "nat", front.svl)).toEqual([
      `-A ${front.svl} -m comment --comment "shop/front:http -> 10.0.41.9:8080" -j ${sep("shop/front:http", "tcp", "10.0.41.9:8080")}`,
    ]);
    expect(chain(text, "nat", front.svc)).toEqual([
      `-A ${front.svc} -m comment --comment "shop/front:http -> 10.0.41.9:8080" -m statistic --mode random --probability 0.50000000000 -j ${sep("shop/front:http", "tcp", "10.0.41.9:8080")}`,
      `-A ${front.svc} -m comment --comment "shop/front:http -> 10.0.72.1:8080" -j ${sep("shop/front:http", "tcp", "10.0.72.1:8080")}`,
    ]);
  });

  it("externalTrafficPolicy Local without a local endpoint: EXT ends early, filter drops the node port", () => {
    expect(chain(text, "nat", edge.ext)).toEqual([
      `-A ${edge.ext} -m comment --comment "masquerade LOCAL traffic for shop/edge:http external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ`,
      `-A ${edge.ext} -m comment --comment "route LOCAL traffic for shop/edge:http external destinations" -m addrtype --src-type LOCAL -j ${edge.svc}`,
    ]);
    expect(tableLines(text, "nat")).not.toContain(`:${edge.svl} - [0:0]`);
    // the not-ready local endpoint gets no chain at all
    expect(text).not.toContain(sep("shop/edge:http", "tcp", "10.0.41.10:8080"));
  });

  it("session affinity: recent checks first, --set on the DNAT", () => {
    const s1 = sep("shop/session:http", "tcp", "10.0.74.1:8080");
    const s2 = sep("shop/session:http", "tcp", "10.0.75.2:8080");
    expect(chain(text, "nat", session.svc)).toEqual([
      `-A ${session.svc} -m comment --comment "shop/session:http -> 10.0.74.1:8080" -m recent --rcheck --seconds 600 --reap --name ${s1} --mask 255.255.255.255 --rsource -j ${s1}`,
      `-A ${session.svc} -m comment --comment "shop/session:http -> 10.0.75.2:8080" -m recent --rcheck --seconds 600 --reap --name ${s2} --mask 255.255.255.255 --rsource -j ${s2}`,
      `-A ${session.svc} -m comment --comment "shop/session:http -> 10.0.74.1:8080" -m statistic --mode random --probability 0.50000000000 -j ${s1}`,
      `-A ${session.svc} -m comment --comment "shop/session:http -> 10.0.75.2:8080" -j ${s2}`,
    ]);
    expect(chain(text, "nat", s1)).toEqual([
      `-A ${s1} -s 10.0.74.1/32 -m comment --comment "shop/session:http" -j KUBE-MARK-MASQ`,
      `-A ${s1} -p tcp -m comment --comment "shop/session:http" -m recent --set --name ${s1} --mask 255.255.255.255 --rsource -m tcp -j DNAT --to-destination 10.0.74.1:8080`,
    ]);
  });

  it("a service without endpoints: no nat rules, REJECT in filter; a headless service: nothing", () => {
    expect(tableLines(text, "nat").filter((l) => l.includes("shop/empty") || l.includes("shop/headless"))).toEqual([]);
    expect(tableLines(text, "filter").filter((l) => l.includes("shop/headless"))).toEqual([]);
  });

  it("kubernetes and kube-dns", () => {
    const k1 = sep("default/kubernetes:https", "tcp", "10.0.101.5:443");
    const k2 = sep("default/kubernetes:https", "tcp", "10.0.140.9:443");
    expect(chain(text, "nat", K)).toEqual([
      `-A ${K} -m comment --comment "default/kubernetes:https -> 10.0.101.5:443" -m statistic --mode random --probability 0.50000000000 -j ${k1}`,
      `-A ${K} -m comment --comment "default/kubernetes:https -> 10.0.140.9:443" -j ${k2}`,
    ]);
    const d1 = sep("kube-system/kube-dns:dns", "udp", "10.0.40.11:53");
    expect(chain(text, "nat", "KUBE-SVC-TCOU7JCQXEZGVUNU")).toEqual([
      `-A KUBE-SVC-TCOU7JCQXEZGVUNU -m comment --comment "kube-system/kube-dns:dns -> 10.0.40.11:53" -m statistic --mode random --probability 0.50000000000 -j ${d1}`,
      `-A KUBE-SVC-TCOU7JCQXEZGVUNU -m comment --comment "kube-system/kube-dns:dns -> 10.0.77.3:53" -j ${sep("kube-system/kube-dns:dns", "udp", "10.0.77.3:53")}`,
    ]);
    expect(chain(text, "nat", d1)).toEqual([
      `-A ${d1} -s 10.0.40.11/32 -m comment --comment "kube-system/kube-dns:dns" -j KUBE-MARK-MASQ`,
      `-A ${d1} -p udp -m comment --comment "kube-system/kube-dns:dns" -m udp -j DNAT --to-destination 10.0.40.11:53`,
    ]);
  });

  it("fixed nat chains and jumps", () => {
    expect(chain(text, "nat", "KUBE-POSTROUTING")).toEqual([
      "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN",
      "-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0",
      '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully',
    ]);
    expect(chain(text, "nat", "KUBE-MARK-MASQ")).toEqual(["-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000"]);
    expect(chain(text, "nat", "OUTPUT")).toEqual(['-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES']);
  });

  it("the whole filter table", () => {
    expect(tableLines(text, "filter")).toEqual([
      ":INPUT ACCEPT [0:0]",
      ":FORWARD ACCEPT [0:0]",
      ":OUTPUT ACCEPT [0:0]",
      ":KUBE-EXTERNAL-SERVICES - [0:0]",
      ":KUBE-FIREWALL - [0:0]",
      ":KUBE-FORWARD - [0:0]",
      ":KUBE-KUBELET-CANARY - [0:0]",
      ":KUBE-NODEPORTS - [0:0]",
      ":KUBE-PROXY-CANARY - [0:0]",
      ":KUBE-PROXY-FIREWALL - [0:0]",
      ":KUBE-SERVICES - [0:0]",
      '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
      '-A INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS',
      '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES',
      "-A INPUT -j KUBE-FIREWALL",
      '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
      '-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD',
      '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
      '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES',
      '-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
      '-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
      "-A OUTPUT -j KUBE-FIREWALL",
      '-A KUBE-EXTERNAL-SERVICES -p tcp -m comment --comment "shop/edge:http has no local endpoints" -m addrtype --dst-type LOCAL -m tcp --dport 30082 -j DROP',
      '-A KUBE-EXTERNAL-SERVICES -p tcp -m comment --comment "shop/empty:http has no endpoints" -m addrtype --dst-type LOCAL -m tcp --dport 30083 -j REJECT --reject-with icmp-port-unreachable',
      '-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment "block incoming localnet connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP',
      "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP",
      '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT',
      '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
      '-A KUBE-NODEPORTS -p tcp -m comment --comment "shop/edge:http health check node port" -m tcp --dport 32002 -j ACCEPT',
      '-A KUBE-NODEPORTS -p tcp -m comment --comment "shop/front:http health check node port" -m tcp --dport 32001 -j ACCEPT',
      '-A KUBE-SERVICES -d 10.100.20.7/32 -p tcp -m comment --comment "shop/empty:http has no endpoints" -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable',
    ]);
  });

  it("prints tables newest first (nat, filter, mangle) and user chains sorted", () => {
    expect(text.split("\n").filter((l) => l.startsWith("*"))).toEqual(["*nat", "*filter", "*mangle"]);
    expect(tableLines(text, "mangle").filter((l) => l.startsWith(":"))).toEqual([
      ":PREROUTING ACCEPT [0:0]",
      ":INPUT ACCEPT [0:0]",
      ":FORWARD ACCEPT [0:0]",
      ":OUTPUT ACCEPT [0:0]",
      ":POSTROUTING ACCEPT [0:0]",
      ":KUBE-IPTABLES-HINT - [0:0]",
      ":KUBE-KUBELET-CANARY - [0:0]",
      ":KUBE-PROXY-CANARY - [0:0]",
    ]);
    const userChains = tableLines(text, "nat").filter((l) => l.endsWith(" - [0:0]")).map((l) => l.slice(1, -8));
    expect(userChains).toEqual([...userChains].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    // without kubelet, kube-proxy's canary Monitor touches mangle, nat, filter first
    const g = goldenCluster();
    const bare = renderNodeIptables(renderKubeProxy(g.services, g.endpoints, KP), renderVpcCni(CNI), { kubelet: false });
    expect(bare.split("\n").filter((l) => l.startsWith("*"))).toEqual(["*filter", "*nat", "*mangle"]);
    // kube-proxy then prepends its KUBE-FIREWALL jump in front of its own
    expect(chain(bare, "filter", "INPUT")[0]).toBe("-A INPUT -j KUBE-FIREWALL");
  });
});

describe("kube-proxy options", () => {
  const g = goldenCluster();
  const front = serviceChainNames("shop/front:http", "tcp");
  const cart = serviceChainNames("shop/cart:http", "tcp");

  it("masqueradeAll and the cluster-CIDR / interface detectors", () => {
    const all = renderGolden({ masqueradeAll: true });
    expect(chain(all, "nat", cart.svc)[0]).toBe(
      `-A ${cart.svc} -d 10.100.20.1/32 -p tcp -m comment --comment "shop/cart:http cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ`,
    );
    const cidr = renderGolden({ localDetector: { mode: "clusterCIDR", cidr: "10.0.0.0/16" } });
    expect(chain(cidr, "nat", cart.svc)[0]).toBe(
      `-A ${cart.svc} ! -s 10.0.0.0/16 -d 10.100.20.1/32 -p tcp -m comment --comment "shop/cart:http cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ`,
    );
    expect(chain(cidr, "nat", front.ext)[0]).toBe(
      `-A ${front.ext} -s 10.0.0.0/16 -m comment --comment "pod traffic for shop/front:http external destinations" -j ${front.svc}`,
    );
    const ifc = renderGolden({ localDetector: { mode: "interfaceNamePrefix", prefix: "eni" } });
    expect(chain(ifc, "nat", cart.svc)[0]).toBe(
      `-A ${cart.svc} -d 10.100.20.1/32 ! -i eni+ -p tcp -m comment --comment "shop/cart:http cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ`,
    );
    expect(chain(ifc, "nat", front.ext)[0]).toBe(
      `-A ${front.ext} -i eni+ -m comment --comment "pod traffic for shop/front:http external destinations" -j ${front.svc}`,
    );
  });

  it("localhostNodePorts off, nodePortAddresses, no --random-fully, tcp_be_liberal, another mark bit", () => {
    const t = renderGolden({ localhostNodePorts: false, randomFully: false, conntrackTcpBeLiberal: true, masqueradeBit: 15 });
    expect(chain(t, "nat", "KUBE-SERVICES").at(-1)).toBe(
      '-A KUBE-SERVICES ! -d 127.0.0.0/8 -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS',
    );
    expect(chain(t, "nat", "KUBE-POSTROUTING")[2]).toBe('-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE');
    expect(chain(t, "filter", "KUBE-FORWARD")[0]).toBe('-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x8000/0x8000 -j ACCEPT');
    // kubelet still owns KUBE-FIREWALL and its rule
    expect(chain(t, "filter", "KUBE-FIREWALL")).toHaveLength(1);
    const kp = renderKubeProxy(g.services, g.endpoints, { ...KP, nodePortAddresses: ["10.0.0.0/16"] });
    expect(kp.localhostNodePorts).toBe(false);
    const n = renderNodeIptables(kp, renderVpcCni(CNI));
    expect(chain(n, "nat", "KUBE-SERVICES").at(-1)).toBe(
      '-A KUBE-SERVICES -d 10.0.42.17/32 -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -j KUBE-NODEPORTS',
    );
  });

  it("nfacct counters (newer kube-proxy)", () => {
    const t = renderGolden({ nfacct: true });
    expect(chain(t, "filter", "KUBE-FORWARD")[0]).toBe("-A KUBE-FORWARD -m conntrack --ctstate INVALID -m nfacct --nfacct-name  ct_state_invalid_dropped_pkts -j DROP");
    const web = serviceChainNames("shop/web:http", "tcp");
    expect(chain(t, "nat", "KUBE-NODEPORTS").slice(-2)).toEqual([
      `-A KUBE-NODEPORTS -d 127.0.0.0/8 -p tcp -m comment --comment "shop/web:http" -m tcp --dport 30080 -m nfacct --nfacct-name  localhost_nps_accepted_pkts -j ${web.ext}`,
      `-A KUBE-NODEPORTS -p tcp -m comment --comment "shop/web:http" -m tcp --dport 30080 -j ${web.ext}`,
    ]);
  });

  it("VIP load balancers, source ranges, external IPs, SCTP, internalTrafficPolicy Local", () => {
    const t = renderNodeIptables(renderKubeProxy(exoticServices(), exoticEndpoints(), KP), renderVpcCni(CNI));
    const lb = serviceChainNames("edge/vip:https", "tcp");
    expect(chain(t, "nat", lb.fw)).toEqual([
      `-A ${lb.fw} -s 10.0.0.0/16 -m comment --comment "edge/vip:https loadbalancer IP" -j ${lb.ext}`,
      `-A ${lb.fw} -s 198.51.100.0/24 -m comment --comment "edge/vip:https loadbalancer IP" -j ${lb.ext}`,
      `-A ${lb.fw} -s 203.0.113.10/32 -m comment --comment "edge/vip:https loadbalancer IP" -j ${lb.ext}`,
      `-A ${lb.fw} -m comment --comment "other traffic to edge/vip:https will be dropped by KUBE-PROXY-FIREWALL"`,
    ]);
    expect(chain(t, "filter", "KUBE-PROXY-FIREWALL")).toEqual([
      `-A KUBE-PROXY-FIREWALL -d 203.0.113.10/32 -p tcp -m comment --comment "edge/vip:https traffic not accepted by ${lb.fw}" -m tcp --dport 443 -j DROP`,
    ]);
    expect(chain(t, "nat", "KUBE-SERVICES").filter((l) => l.includes("\"edge/vip:"))).toEqual([
      `-A KUBE-SERVICES -d 10.100.30.1/32 -p tcp -m comment --comment "edge/vip:https cluster IP" -m tcp --dport 443 -j ${lb.svc}`,
      `-A KUBE-SERVICES -d 192.0.2.10/32 -p tcp -m comment --comment "edge/vip:https external IP" -m tcp --dport 443 -j ${lb.ext}`,
      `-A KUBE-SERVICES -d 203.0.113.10/32 -p tcp -m comment --comment "edge/vip:https loadbalancer IP" -m tcp --dport 443 -j ${lb.fw}`,
    ]);
    expect(chain(t, "filter", "KUBE-EXTERNAL-SERVICES")).toEqual([
      '-A KUBE-EXTERNAL-SERVICES -d 192.0.2.20/32 -p tcp -m comment --comment "edge/vip-local:http has no local endpoints" -m tcp --dport 80 -j DROP',
      '-A KUBE-EXTERNAL-SERVICES -d 203.0.113.20/32 -p tcp -m comment --comment "edge/vip-local:http has no local endpoints" -m tcp --dport 80 -j DROP',
      '-A KUBE-EXTERNAL-SERVICES -p tcp -m comment --comment "edge/vip-local:http has no local endpoints" -m addrtype --dst-type LOCAL -m tcp --dport 31020 -j DROP',
    ]);
    const sctp = serviceChainNames("telco/sig:sctp", "sctp");
    expect(chain(t, "nat", "KUBE-SERVICES")).toContain(
      `-A KUBE-SERVICES -d 10.100.30.3/32 -p sctp -m comment --comment "telco/sig:sctp cluster IP" -m sctp --dport 3868 -j ${sctp.svc}`,
    );
    const itp = serviceChainNames("node/agent:http", "tcp");
    expect(chain(t, "nat", "KUBE-SERVICES")).toContain(
      `-A KUBE-SERVICES -d 10.100.30.4/32 -p tcp -m comment --comment "node/agent:http cluster IP" -m tcp --dport 80 -j ${itp.svl}`,
    );
    expect(chain(t, "filter", "KUBE-SERVICES")).toEqual([
      '-A KUBE-SERVICES -d 10.100.30.5/32 -p tcp -m comment --comment "node/remote-agent:http has no local endpoints" -m tcp --dport 80 -j DROP',
    ]);
  });

  it("largeClusterMode drops per-endpoint comments above 1000 endpoints", () => {
    const c = syntheticCluster({ services: 400, endpointsPerService: 4, seed: 3 });
    const kp = renderKubeProxy(c.services, c.endpoints, c.kubeProxy);
    expect(kp.stats.totalEndpoints).toBeGreaterThan(1000);
    expect(kp.stats.largeClusterMode).toBe(true);
    const t = renderNodeIptables(kp, renderVpcCni(c.vpcCni));
    const nat = tableLines(t, "nat");
    expect(nat.filter((l) => l.includes(" -> "))).toEqual([]);
    expect(nat.filter((l) => l.startsWith("-A KUBE-SEP-") && l.includes("--comment"))).toEqual([]);
    // top-level comments stay
    expect(nat.filter((l) => l.startsWith("-A KUBE-SERVICES -d") && !l.includes("cluster IP"))).toEqual([]);
    const small = syntheticCluster({ services: 50, seed: 3 });
    expect(renderKubeProxy(small.services, small.endpoints, small.kubeProxy).stats.largeClusterMode).toBe(false);
  });

  it("terminating endpoints are used only when nothing is ready", () => {
    const svc: K8sService = { namespace: "a", name: "b", type: "ClusterIP", clusterIP: "10.100.9.9", ports: [{ name: "p", protocol: "TCP", port: 80 }] };
    const names = serviceChainNames("a/b:p", "tcp");
    const t1 = renderNodeIptables(
      renderKubeProxy([svc], { "a/b": [ep("10.0.1.1", { p: 80 }, NODE, "terminating"), ep("10.0.1.2", { p: 80 })] }, KP),
      renderVpcCni(CNI),
    );
    expect(chain(t1, "nat", names.svc)).toEqual([`-A ${names.svc} -m comment --comment "a/b:p -> 10.0.1.2:80" -j ${sep("a/b:p", "tcp", "10.0.1.2:80")}`]);
    const t2 = renderNodeIptables(renderKubeProxy([svc], { "a/b": [ep("10.0.1.1", { p: 80 }, NODE, "terminating")] }, KP), renderVpcCni(CNI));
    expect(chain(t2, "nat", names.svc)).toEqual([`-A ${names.svc} -m comment --comment "a/b:p -> 10.0.1.1:80" -j ${sep("a/b:p", "tcp", "10.0.1.1:80")}`]);
  });
});

function exoticServices(): K8sService[] {
  return [
    {
      namespace: "edge",
      name: "vip",
      type: "LoadBalancer",
      clusterIP: "10.100.30.1",
      externalIPs: ["192.0.2.10"],
      loadBalancerIngress: [{ ip: "203.0.113.10" }, { hostname: "ignored.example.com" }],
      loadBalancerSourceRanges: ["10.0.1.2/16", "198.51.100.0/24"],
      sessionAffinity: "ClientIP",
      ports: [{ name: "https", protocol: "TCP", port: 443, nodePort: 31010 }],
    },
    {
      namespace: "edge",
      name: "vip-local",
      type: "LoadBalancer",
      clusterIP: "10.100.30.2",
      externalIPs: ["192.0.2.20"],
      externalTrafficPolicy: "Local",
      healthCheckNodePort: 32010,
      loadBalancerIngress: [{ ip: "203.0.113.20" }],
      ports: [{ name: "http", protocol: "TCP", port: 80, nodePort: 31020 }],
    },
    { namespace: "telco", name: "sig", type: "ClusterIP", clusterIP: "10.100.30.3", ports: [{ name: "sctp", protocol: "SCTP", port: 3868 }] },
    { namespace: "node", name: "agent", type: "ClusterIP", clusterIP: "10.100.30.4", internalTrafficPolicy: "Local", ports: [{ name: "http", protocol: "TCP", port: 80 }] },
    { namespace: "node", name: "remote-agent", type: "ClusterIP", clusterIP: "10.100.30.5", internalTrafficPolicy: "Local", ports: [{ name: "http", protocol: "TCP", port: 80 }] },
  ];
}

function exoticEndpoints(): Record<string, K8sEndpoint[]> {
  const other = "ip-10-0-77-1.ec2.internal";
  return {
    "edge/vip": [ep("10.0.50.1", { https: 8443 }, other), ep("10.0.41.50", { https: 8443 }, NODE)],
    "edge/vip-local": [ep("10.0.50.2", { http: 8080 }, other)],
    "telco/sig": [ep("10.0.50.3", { sctp: 3868 }, other)],
    "node/agent": [ep("10.0.41.60", { http: 8080 }, NODE), ep("10.0.50.4", { http: 8080 }, other)],
    "node/remote-agent": [ep("10.0.50.5", { http: 8080 }, other)],
  };
}

// ---------------------------------------------------------------------------
// VPC CNI

describe("VPC CNI rules", () => {
  it("default: SNAT chain, connmark chain, mangle connmarks, after kube-proxy's jumps", () => {
    const t = renderGolden();
    expect(chain(t, "nat", "PREROUTING")).toEqual([
      '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
      '-A PREROUTING -i eni+ -m comment --comment "AWS, outbound connections" -j AWS-CONNMARK-CHAIN-0',
      '-A PREROUTING -m comment --comment "AWS, CONNMARK" -j CONNMARK --restore-mark --nfmask 0x80 --ctmask 0x80',
    ]);
    expect(chain(t, "nat", "POSTROUTING")).toEqual([
      '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
      '-A POSTROUTING -m comment --comment "AWS SNAT CHAIN" -j AWS-SNAT-CHAIN-0',
    ]);
    expect(chain(t, "nat", "AWS-SNAT-CHAIN-0")).toEqual([
      '-A AWS-SNAT-CHAIN-0 -d 10.0.0.0/16 -m comment --comment "AWS SNAT CHAIN" -j RETURN',
      '-A AWS-SNAT-CHAIN-0 ! -o vlan+ -m comment --comment "AWS, SNAT" -m addrtype ! --dst-type LOCAL -j SNAT --to-source 10.0.42.17 --random-fully',
    ]);
    expect(chain(t, "nat", "AWS-CONNMARK-CHAIN-0")).toEqual([
      '-A AWS-CONNMARK-CHAIN-0 -d 10.0.0.0/16 -m comment --comment "AWS CONNMARK CHAIN" -j RETURN',
      '-A AWS-CONNMARK-CHAIN-0 -m comment --comment "AWS, CONNMARK" -j CONNMARK --set-xmark 0x80/0x80',
    ]);
    expect(chain(t, "mangle", "PREROUTING")).toEqual([
      '-A PREROUTING -i eth0 -m comment --comment "AWS, primary ENI" -m addrtype --dst-type LOCAL --limit-iface-in -j CONNMARK --set-xmark 0x80/0x80',
      '-A PREROUTING -i eni+ -m comment --comment "AWS, primary ENI" -j CONNMARK --restore-mark --nfmask 0x80 --ctmask 0x80',
      '-A PREROUTING -i vlan+ -m comment --comment "AWS, primary ENI" -j CONNMARK --restore-mark --nfmask 0x80 --ctmask 0x80',
    ]);
  });

  it("two VPC CIDRs and exclusions: RETURNs in reverse config order, 0.0.0.0/0 without -d", () => {
    const t = renderGolden({}, { vpcCidrs: ["10.0.0.0/16", "100.64.0.0/16"], excludeSnatCidrs: ["192.168.0.0/16", "172.16.5.4/12", "0.0.0.0/0"] });
    expect(chain(t, "nat", "AWS-SNAT-CHAIN-0")).toEqual([
      '-A AWS-SNAT-CHAIN-0 -m comment --comment "AWS SNAT CHAIN EXCLUSION" -j RETURN',
      '-A AWS-SNAT-CHAIN-0 -d 172.16.0.0/12 -m comment --comment "AWS SNAT CHAIN EXCLUSION" -j RETURN',
      '-A AWS-SNAT-CHAIN-0 -d 192.168.0.0/16 -m comment --comment "AWS SNAT CHAIN EXCLUSION" -j RETURN',
      '-A AWS-SNAT-CHAIN-0 -d 100.64.0.0/16 -m comment --comment "AWS SNAT CHAIN" -j RETURN',
      '-A AWS-SNAT-CHAIN-0 -d 10.0.0.0/16 -m comment --comment "AWS SNAT CHAIN" -j RETURN',
      '-A AWS-SNAT-CHAIN-0 ! -o vlan+ -m comment --comment "AWS, SNAT" -m addrtype ! --dst-type LOCAL -j SNAT --to-source 10.0.42.17 --random-fully',
    ]);
    expect(chain(t, "nat", "AWS-CONNMARK-CHAIN-0")).toEqual([
      '-A AWS-CONNMARK-CHAIN-0 -m comment --comment "AWS CONNMARK CHAIN" -j RETURN',
      '-A AWS-CONNMARK-CHAIN-0 -d 172.16.0.0/12 -m comment --comment "AWS CONNMARK CHAIN" -j RETURN',
      '-A AWS-CONNMARK-CHAIN-0 -d 192.168.0.0/16 -m comment --comment "AWS CONNMARK CHAIN" -j RETURN',
      '-A AWS-CONNMARK-CHAIN-0 -d 100.64.0.0/16 -m comment --comment "AWS CONNMARK CHAIN" -j RETURN',
      '-A AWS-CONNMARK-CHAIN-0 -d 10.0.0.0/16 -m comment --comment "AWS CONNMARK CHAIN" -j RETURN',
      '-A AWS-CONNMARK-CHAIN-0 -m comment --comment "AWS, CONNMARK" -j CONNMARK --set-xmark 0x80/0x80',
    ]);
    const old = renderGolden({}, { layout: "v1.16", excludeSnatCidrs: ["192.168.0.0/16"] });
    expect(chain(old, "nat", "AWS-CONNMARK-CHAIN-0").slice(0, 2)).toEqual([
      '-A AWS-CONNMARK-CHAIN-0 -d 192.168.0.0/16 -m comment --comment "AWS CONNMARK CHAIN, EXCLUDED CIDR" -j RETURN',
      '-A AWS-CONNMARK-CHAIN-0 -d 10.0.0.0/16 -m comment --comment "AWS CONNMARK CHAIN, VPC CIDR" -j RETURN',
    ]);
  });

  it("randomizeSnat modes", () => {
    const snat = (mode: "prng" | "hashrandom" | "none") => chain(renderGolden({}, { randomizeSnat: mode }), "nat", "AWS-SNAT-CHAIN-0").at(-1);
    expect(snat("prng")).toMatch(/ -j SNAT --to-source 10\.0\.42\.17 --random-fully$/);
    expect(snat("hashrandom")).toMatch(/ -j SNAT --to-source 10\.0\.42\.17 --random$/);
    expect(snat("none")).toMatch(/ -j SNAT --to-source 10\.0\.42\.17$/);
  });

  it("externalSnat: SNAT and connmark rules gone, NodePort marks stay; the SNAT chain stays (empty)", () => {
    const t = renderGolden({}, { externalSnat: true, excludeSnatCidrs: ["192.168.0.0/16"] });
    expect(chain(t, "nat", "PREROUTING")).toEqual(['-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES']);
    expect(chain(t, "nat", "POSTROUTING")).toEqual(['-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING']);
    expect(tableLines(t, "nat")).toContain(":AWS-SNAT-CHAIN-0 - [0:0]");
    expect(chain(t, "nat", "AWS-SNAT-CHAIN-0")).toEqual([]);
    expect(tableLines(t, "nat").some((l) => l.includes("AWS-CONNMARK-CHAIN-0"))).toBe(false);
    expect(chain(t, "mangle", "PREROUTING")).toHaveLength(3);
    const bare = renderGolden({}, { externalSnat: true, nodePortSupport: false });
    expect(chain(bare, "mangle", "PREROUTING")).toEqual([]);
    expect(bare).toContain("*mangle\n"); // aws-node still touched the table (iptables -C)
    const old = renderGolden({}, { externalSnat: true, layout: "v1.16" });
    expect(tableLines(old, "nat")).toContain(":AWS-CONNMARK-CHAIN-0 - [0:0]");
  });

  it("nodePortSupport off, other mark, veth prefix and primary interface", () => {
    const t = renderGolden({}, { nodePortSupport: false, connmark: 0x100, vethPrefix: "veth", primaryIf: "ens5" });
    expect(chain(t, "mangle", "PREROUTING")).toEqual([
      '-A PREROUTING -i veth+ -m comment --comment "AWS, primary ENI" -j CONNMARK --restore-mark --nfmask 0x100 --ctmask 0x100',
    ]);
    const n = renderGolden({}, { connmark: 0x100, primaryIf: "ens5" });
    expect(chain(n, "mangle", "PREROUTING")[0]).toBe(
      '-A PREROUTING -i ens5 -m comment --comment "AWS, primary ENI" -m addrtype --dst-type LOCAL --limit-iface-in -j CONNMARK --set-xmark 0x100/0x100',
    );
  });
});

// ---------------------------------------------------------------------------
// synthetic clusters and stability

describe("synthetic clusters", () => {
  it("are deterministic per seed and shaped as asked", () => {
    const a = syntheticCluster({ services: 300, seed: 11 });
    const b = syntheticCluster({ services: 300, seed: 11 });
    const c = syntheticCluster({ services: 300, seed: 12 });
    expect(JSON.stringify(a.services)).toBe(JSON.stringify(b.services));
    expect(JSON.stringify([...a.endpoints])).toBe(JSON.stringify([...b.endpoints]));
    expect(JSON.stringify(a.services)).not.toBe(JSON.stringify(c.services));
    expect(a.services).toHaveLength(300);
    expect(a.services.map((s) => `${s.namespace}/${s.name}`).slice(0, 2)).toEqual(["default/kubernetes", "kube-system/kube-dns"]);
    const eps = [...a.endpoints.values()].flat();
    expect(eps.some((e) => e.nodeName === a.node.name)).toBe(true);
    expect(eps.every((e) => e.ip.startsWith("10.0."))).toBe(true);
    expect(a.services.some((s) => s.type === "NodePort")).toBe(true);
    expect(a.services.some((s) => s.externalTrafficPolicy === "Local" && s.healthCheckNodePort)).toBe(true);
    expect(a.services.some((s) => s.sessionAffinity === "ClientIP")).toBe(true);
    expect(a.services.some((s) => s.ports.some((p) => p.protocol === "UDP"))).toBe(true);
    expect([...a.endpoints.values()].some((e) => e.length === 0)).toBe(true);
  });

  it("spill pods into a secondary VPC CIDR when the node subnets fill up", () => {
    const c = syntheticCluster({ services: 5000, endpointsPerService: 12, seed: 2 });
    expect(c.vpcCni.vpcCidrs).toEqual(["10.0.0.0/16", "100.64.0.0/16"]);
    const eps = [...c.endpoints.values()].flat();
    expect(eps.some((e) => e.ip.startsWith("100.64."))).toBe(true);
    expect(new Set(eps.map((e) => e.ip)).size).toBe(eps.length);
  });

  it("same input, same bytes", () => {
    const c = syntheticCluster({ services: 200, seed: 5 });
    const r1 = renderNodeIptables(renderKubeProxy(c.services, c.endpoints, c.kubeProxy), renderVpcCni(c.vpcCni));
    const c2 = syntheticCluster({ services: 200, seed: 5 });
    const r2 = renderNodeIptables(renderKubeProxy(c2.services, c2.endpoints, c2.kubeProxy), renderVpcCni(c2.vpcCni));
    expect(r2).toBe(r1);
    // input order does not matter either
    const r3 = renderNodeIptables(renderKubeProxy([...c.services].reverse(), c.endpoints, c.kubeProxy), renderVpcCni(c.vpcCni));
    expect(r3).toBe(r1);
  });
});

// ---------------------------------------------------------------------------
// the kernel as referee

let nsCounter = 0;

/** Strips iptables-save's `#` lines and zeroes the chain counters. */
function normaliseDump(s: string): string {
  return s
    .split("\n")
    .filter((l) => !l.startsWith("#"))
    .map((l) => l.replace(/ \[\d+:\d+\]$/, " [0:0]"))
    .join("\n");
}

function firstDifference(a: string, b: string): string {
  const x = a.split("\n");
  const y = b.split("\n");
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    if (x[i] !== y[i]) return `line ${i + 1}:\n  ours:   ${x[i]}\n  kernel: ${y[i]}`;
  }
  return "identical";
}

const NFACCT_PY = `
import socket, struct, sys
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)  # NETLINK_NETFILTER
s.bind((0, 0))
for seq, name in enumerate(sys.argv[1:], 1):
    b = name.encode() + b"\\0"
    attr = struct.pack("=HH", 4 + len(b), 1) + b + b"\\0" * ((4 - len(b) % 4) % 4)  # NFACCT_NAME
    body = struct.pack("=BBH", 0, 0, 0) + attr
    # NFNL_SUBSYS_ACCT << 8 | NFNL_MSG_ACCT_NEW; NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE
    s.send(struct.pack("=IHHII", 16 + len(body), 7 << 8, 0x405, seq, 0) + body)
    err = struct.unpack("=i", s.recv(4096)[16:20])[0]
    if err not in (0, -17):
        sys.exit("nfacct %s: errno %d" % (name, -err))
`;

const HAVE_NFACCT_CMD = spawnSync("nfacct", ["version"], { encoding: "utf8" }).status === 0;

/** Creates nfacct objects in a namespace: with nfacct(8) if installed, else with a netlink message from python3. */
async function createNfacct(ns: string, names: string[]): Promise<string> {
  if (HAVE_NFACCT_CMD) {
    for (const n of names) {
      const r = await run("ip", ["netns", "exec", ns, "nfacct", "add", n]);
      if (r.code !== 0) throw new Error(`nfacct add ${n}: ${r.stderr}`);
    }
    return "nfacct(8)";
  }
  const r = await run("ip", ["netns", "exec", ns, "python3", "-c", NFACCT_PY, ...names]);
  if (r.code !== 0) throw new Error(`creating nfacct objects: ${r.stderr || r.stdout}`);
  return "python3 netlink (nfacct(8) not installed)";
}

/**
 * Loads `text` into a fresh namespace and returns what iptables-legacy-save
 * prints. The tables are first touched in the order a node's components
 * first use them (the reverse of the printed order), since that order is
 * what iptables-save lists them in.
 */
async function kernelRoundTrip(text: string, nfacct: string[] = []): Promise<{ dump: string; restoreMs: number }> {
  const ns = `np-${process.pid}-k8s${nsCounter++ > 0 ? `-${nsCounter}` : ""}`;
  const add = await run("ip", ["netns", "add", ns]);
  if (add.code !== 0) throw new Error(`ip netns add ${ns}: ${add.stderr}`);
  try {
    if (nfacct.length > 0) await createNfacct(ns, nfacct);
    const tables = text.split("\n").filter((l) => l.startsWith("*")).map((l) => l.slice(1));
    for (const t of [...tables].reverse()) {
      const r = await run("ip", ["netns", "exec", ns, "iptables-legacy", "-t", t, "-S"]);
      if (r.code !== 0) throw new Error(`iptables-legacy -t ${t} -S: ${r.stderr}`);
    }
    const t0 = performance.now();
    const restore = await run("ip", ["netns", "exec", ns, "iptables-legacy-restore"], { input: text });
    const restoreMs = performance.now() - t0;
    if (restore.code !== 0) throw new Error(`iptables-legacy-restore failed: ${restore.stderr}`);
    const save = await run("ip", ["netns", "exec", ns, "iptables-legacy-save"]);
    if (save.code !== 0) throw new Error(`iptables-legacy-save failed: ${save.stderr}`);
    return { dump: normaliseDump(save.stdout), restoreMs };
  } finally {
    await run("ip", ["netns", "del", ns]);
  }
}

async function expectKernelIdentity(text: string, nfacct: string[] = []): Promise<number> {
  const { dump, restoreMs } = await kernelRoundTrip(text, nfacct);
  if (dump !== text) expect.fail(`iptables-legacy-save differs from the rendered text at ${firstDifference(text, dump)}`);
  return restoreMs;
}

describeKernel("rendered rules against iptables-legacy-restore / -save", () => {
  it("the golden cluster, with every VPC CNI variant", async () => {
    const variants: Partial<VpcCniOptions>[] = [
      {},
      { vpcCidrs: ["10.0.0.0/16", "100.64.0.0/16"], excludeSnatCidrs: ["192.168.0.0/16", "172.16.0.0/12", "0.0.0.0/0"] },
      { randomizeSnat: "hashrandom" },
      { randomizeSnat: "none" },
      { externalSnat: true },
      { externalSnat: true, nodePortSupport: false },
      { nodePortSupport: false, connmark: 0x100, vethPrefix: "veth", primaryIf: "ens5", layout: "v1.16", excludeSnatCidrs: ["192.168.0.0/16"] },
    ];
    for (const v of variants) await expectKernelIdentity(renderGolden({}, v));
  });

  it("kube-proxy option variants and VIP-style load balancers", async () => {
    const variants: Partial<KubeProxyOptions>[] = [
      { masqueradeAll: true },
      { localDetector: { mode: "clusterCIDR", cidr: "10.0.0.0/16" } },
      { localDetector: { mode: "interfaceNamePrefix", prefix: "eni" } },
      { localhostNodePorts: false, randomFully: false, conntrackTcpBeLiberal: true, masqueradeBit: 15 },
      { nodePortAddresses: ["10.0.0.0/16", "127.0.0.0/8"] },
    ];
    for (const v of variants) await expectKernelIdentity(renderGolden(v));
    const services = [...goldenCluster().services, ...exoticServices()];
    const endpoints = { ...goldenCluster().endpoints, ...exoticEndpoints() };
    await expectKernelIdentity(renderNodeIptables(renderKubeProxy(services, endpoints, KP), renderVpcCni(CNI)));
    await expectKernelIdentity(renderNodeIptables(renderKubeProxy(services, endpoints, KP), renderVpcCni(CNI), { kubelet: false }));
  });

  it("nfacct rules (counters created first, as kube-proxy does)", async () => {
    const how = HAVE_NFACCT_CMD ? "nfacct(8)" : "python3 netlink (nfacct(8) not installed)";
    console.log(`nfacct objects created with ${how}`);
    await expectKernelIdentity(renderGolden({ nfacct: true }), ["ct_state_invalid_dropped_pkts", "localhost_nps_accepted_pkts"]);
  });

  it("50- and 1,000-service synthetic clusters", async () => {
    for (const n of [50, 1000]) {
      const c = syntheticCluster({ services: n, seed: 7 });
      const text = renderNodeIptables(renderKubeProxy(c.services, c.endpoints, c.kubeProxy), renderVpcCni(c.vpcCni));
      const ms = await expectKernelIdentity(text);
      console.log(`${n} services: ${text.split("\n").length - 1} lines, ${text.length} bytes, iptables-legacy-restore ${ms.toFixed(0)} ms`);
    }
  });

  it("a 10,000-service synthetic cluster", async () => {
    const t0 = performance.now();
    const c = syntheticCluster({ services: 10_000, seed: 7 });
    const kp = renderKubeProxy(c.services, c.endpoints, c.kubeProxy);
    const text = renderNodeIptables(kp, renderVpcCni(c.vpcCni));
    const renderMs = performance.now() - t0;
    expect(kp.stats.largeClusterMode).toBe(true);
    const ms = await expectKernelIdentity(text);
    console.log(
      `10,000 services: ${kp.stats.servicePorts} service ports, ${kp.stats.totalEndpoints} endpoints, ` +
        `${text.split("\n").length - 1} lines, ${(text.length / 1e6).toFixed(1)} MB; ` +
        `generate+render ${renderMs.toFixed(0)} ms, iptables-legacy-restore ${ms.toFixed(0)} ms`,
    );
  });
});
