/**
 * Cluster files: what is read, and every kind of mistake reported as an
 * InputError with the file, line, column and offending key or value.
 */
import { describe, expect, it } from "vitest";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadClusterFile, parseClusterText } from "../../host/cluster/load.js";
import { InputError } from "../../host/snapshot/errors.js";
import { miniClusterText } from "./helpers.js";

function errorOf(text: string, file = "c.yaml"): InputError {
  try {
    parseClusterText(text, file);
  } catch (e) {
    if (e instanceof InputError) return e;
    throw e;
  }
  throw new Error("no error");
}

/** Replaces the first occurrence of `from` in the mini cluster's text. */
function variant(from: string, to: string, base = miniClusterText({ pods: 1 })): string {
  expect(base).toContain(from);
  return base.replace(from, to);
}

function lineOf(text: string, needle: string): number {
  return text.split("\n").findIndex((l) => l.includes(needle)) + 1;
}

describe("cluster file errors", () => {
  it("an unknown top-level key, with did-you-mean", () => {
    const text = variant("nodes:", "nodez:");
    const e = errorOf(text);
    expect(e.line).toBe(lineOf(text, "nodez:"));
    expect(e.column).toBe(1);
    expect(e.token).toBe("nodez");
    expect(e.problem).toContain('did you mean "nodes"');
  });

  it("an unknown nested key, with its column", () => {
    const text = variant("instanceType: m5.large", "instanceTyp: m5.large");
    const e = errorOf(text);
    expect([e.line, e.column, e.token]).toEqual([lineOf(text, "instanceTyp:"), text.split("\n")[lineOf(text, "instanceTyp:") - 1].indexOf("instanceTyp") + 1, "instanceTyp"]);
    expect(e.problem).toContain('did you mean "instanceType"');
  });

  it("an unknown aws-node variable", () => {
    const text = variant("WARM_ENI_TARGET:", "WARM_ENI_TARGETS:");
    const e = errorOf(text);
    expect(e.token).toBe("WARM_ENI_TARGETS");
    expect(e.problem).toContain('did you mean "WARM_ENI_TARGET"');
    expect(e.line).toBe(lineOf(text, "WARM_ENI_TARGETS"));
    expect(e.column).toBe(5);
  });

  it("bad CIDRs: not a CIDR, host bits set, outside the VPC, in an env list", () => {
    let text = variant("cidr: 10.0.32.0/19", "cidr: 10.0.32.0/33");
    let e = errorOf(text);
    expect([e.line, e.token]).toEqual([lineOf(text, "/33"), "10.0.32.0/33"]);
    expect(e.column).toBe(text.split("\n")[e.line - 1].indexOf("10.0.32.0/33") + 1);
    expect(e.problem).toContain("not an IPv4 CIDR");
    e = errorOf(variant("cidr: 10.0.32.0/19", "cidr: 10.0.32.5/19"));
    expect(e.problem).toContain("host bits");
    e = errorOf(variant("cidr: 10.0.32.0/19", "cidr: 192.168.0.0/19"));
    expect(e.problem).toContain("not inside any VPC CIDR");
    text = variant('WARM_ENI_TARGET: "1"', 'AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS: "172.16.0.0/12,10.0.0/8"');
    e = errorOf(text);
    expect(e.token).toBe("10.0.0/8");
    expect(e.line).toBe(lineOf(text, "10.0.0/8"));
  });

  it("bad types", () => {
    let text = variant("cidrs: [10.0.0.0/16, 100.64.0.0/16]", "cidrs: 10.0.0.0/16");
    let e = errorOf(text);
    expect(e.problem).toContain("vpc.cidrs: expected a list, found a string");
    expect(e.line).toBe(2);
    text = variant('WARM_ENI_TARGET: "1"', 'WARM_ENI_TARGET: "one"');
    e = errorOf(text);
    expect(e.problem).toContain("not a non-negative integer");
    expect(e.token).toBe("one");
    e = errorOf(variant('WARM_ENI_TARGET: "1"', 'AWS_VPC_K8S_CNI_EXTERNALSNAT: "maybe"'));
    expect(e.problem).toContain("not a boolean");
    e = errorOf(variant("node: node-0}", "node: node-0, hostNetwork: yes please}"));
    expect(e.problem).toContain("expected true or false");
  });

  it("missing fields", () => {
    let text = variant("{name: node-0, instanceType: m5.large, subnet: subnet-a}", "{name: node-0, instanceType: m5.large}");
    let e = errorOf(text);
    expect(e.problem).toContain('nodes[0]: missing "subnet"');
    expect(e.line).toBe(lineOf(text, "name: node-0"));
    text = variant("vpc:\n  cidrs: [10.0.0.0/16, 100.64.0.0/16]\n", "");
    e = errorOf(text);
    expect(e.problem).toContain('missing "vpc"');
  });

  it("references: unknown subnet, node, instance type (with did-you-mean)", () => {
    let e = errorOf(variant("subnet: subnet-a}", "subnet: subnet-b}"));
    expect(e.problem).toContain('no such subnet (did you mean "subnet-a"?)');
    e = errorOf(variant("node: node-0}", "node: node-1}"));
    expect(e.problem).toContain('no such node (did you mean "node-0"?)');
    e = errorOf(variant("instanceType: m5.large", "instanceType: m5.lage"));
    expect(e.problem).toContain('unknown instance type (did you mean "m5.large"?)');
    e = errorOf(variant("instanceType: m5.large, subnet: subnet-a", "instanceType: m5.large, subnet: subnet-a, primaryIP: 10.0.32.2"));
    expect(e.problem).toContain("AWS reserves");
  });

  it("YAML syntax errors and aliases", () => {
    let e = errorOf("vpc:\n  cidrs: [10.0.0.0/16\nsubnets: []\n");
    expect(e.problem).toContain("YAML syntax error");
    expect(e.line).toBeGreaterThan(0);
    e = errorOf(variant("pods:\n", "x: &a 1\npods:\n"));
    expect(e.token).toBe("x");
    e = errorOf(variant("cidrs: [10.0.0.0/16, 100.64.0.0/16]", "cidrs: &c [10.0.0.0/16]\n  x: *c"));
    expect(e.token).toBe("x");
  });

  it("custom networking without an ENIConfig for the node's zone", () => {
    const text = variant("    us-east-1a: {subnet: subnet-pods-a}", "    us-east-1b: {subnet: subnet-pods-a}",
      miniClusterText({ env: { AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG: "true" } }));
    const e = errorOf(text);
    expect(e.problem).toContain("no ENIConfig for its availability zone us-east-1a");
    expect(e.line).toBe(lineOf(text, "name: node-0"));
  });

  it("Kubernetes YAML: errors name the referenced file; unknown fields, kinds and bad values", async () => {
    const dir = mkdtempSync(join(tmpdir(), "np-cluster-"));
    const svc = (extra: string) => `apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: shop\nspec:\n  clusterIP: 172.20.1.1\n  ports:\n  - port: 80\n${extra}`;
    const cluster = join(dir, "cluster.yaml");
    writeFileSync(cluster, miniClusterText({ extra: "kubernetes:\n  - k8s/svc.yaml" }));
    mkdirSync(join(dir, "k8s"));
    const check = async (text: string, line: number, token: string, problem: string) => {
      writeFileSync(join(dir, "k8s/svc.yaml"), text);
      const e = await loadClusterFile(cluster).then(() => undefined, (x: unknown) => x);
      expect(e).toBeInstanceOf(InputError);
      const ie = e as InputError;
      expect(ie.file).toBe(join(dir, "k8s/svc.yaml"));
      expect([ie.line, ie.token]).toEqual([line, token]);
      expect(ie.problem).toContain(problem);
    };
    await check(svc("    protocl: TCP\n"), 10, "protocl", 'did you mean "protocol"');
    await check(svc("    protocol: ICMP\n"), 10, "ICMP", "protocol must be TCP, UDP or SCTP");
    await check(svc("  externalTrafficPolicy: Locale\n"), 10, "Locale", "must be Cluster or Local");
    await check("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n", 2, "ConfigMap", "unsupported kind");
    await check(svc("").replace("172.20.1.1", "172.20.1"), 7, "172.20.1", "not an IPv4 address");
    await check("apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\naddressType: IPv4\nmetadata: {name: web-1, namespace: shop}\nendpoints: []\n", 4, "",
      "kubernetes.io/service-name");
    // a missing file is named at the reference in the cluster file
    writeFileSync(cluster, miniClusterText({ extra: "kubernetes:\n  - k8s/nope.yaml" }));
    const e = (await loadClusterFile(cluster).catch((x: unknown) => x)) as InputError;
    expect(e.file).toBe(cluster);
    expect(e.token).toBe("k8s/nope.yaml");
    expect(e.problem).toContain("cannot read");
  });
});

describe("cluster files that load", () => {
  it("reads kubectl List output with every real field, inline objects, and settings", async () => {
    const spec = await loadClusterFile("examples/eks-3node/cluster.yaml");
    expect(spec.nodes.map((n) => n.instanceType)).toEqual(["m5.large", "m5.xlarge", "t3.medium"]);
    expect(spec.services).toHaveLength(50);
    expect(spec.endpointSlices).toHaveLength(50);
    expect(spec.awsNode.excludeSnatCidrs).toEqual(["172.16.0.0/12"]);
    expect(spec.services.filter((s) => s.type === "LoadBalancer").every((s) => s.loadBalancerIngress?.every((i) => i.hostname && !i.ip))).toBe(true);
    expect(spec.services.some((s) => s.type === "LoadBalancer" && s.externalTrafficPolicy === "Local" && s.healthCheckNodePort)).toBe(true);
    expect(spec.services.some((s) => s.type === "NodePort" && s.externalTrafficPolicy === "Local")).toBe(true);
    const snat = await loadClusterFile("examples/eks-3node-externalsnat/cluster.yaml");
    expect(snat.awsNode.externalSnat).toBe(true);
    expect(snat.services).toEqual(spec.services);

    const inline = parseClusterText(miniClusterText({
      extra: "kubeProxy: {clusterCIDR: 10.0.0.0/16, nodePortAddresses: [primary]}\nkubernetes:\n  - {apiVersion: v1, kind: Service, metadata: {name: x}, spec: {clusterIP: 172.20.9.9, ports: [{port: 80, protocol: UDP}]}}\n" +
        "  - {apiVersion: discovery.k8s.io/v1, kind: EndpointSlice, addressType: IPv6, metadata: {name: x-6, labels: {kubernetes.io/service-name: x}}}",
    }), "inline.yaml");
    expect(inline.services[0]).toMatchObject({ namespace: "default", name: "x", clusterIP: "172.20.9.9", ports: [{ port: 80, protocol: "UDP" }] });
    expect(inline.kubeProxy.localDetector).toEqual({ mode: "clusterCIDR", cidr: "10.0.0.0/16" });
    expect(inline.kubeProxy.nodePortAddresses).toEqual(["primary"]);
    expect(inline.notes.join("\n")).toContain("addressType IPv6");
  });
});

describe("duplicates", () => {
  it("a Service defined twice is named at its second definition", () => {
    const svc = "  - {apiVersion: v1, kind: Service, metadata: {name: x}, spec: {clusterIP: 172.20.9.9, ports: [{port: 80}]}}";
    const text = miniClusterText({ extra: `kubernetes:\n${svc}\n${svc}` });
    const e = errorOf(text);
    expect(e.problem).toBe("duplicate Service default/x");
    expect(e.line).toBe(text.split("\n").length - 1);
    expect(e.column).toBe(5);
  });
});
