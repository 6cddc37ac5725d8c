/**
 * The iptables rules the AWS VPC CNI's ipamd (aws-node) programs on a node,
 * IPv4 mode, in iptables-save form (shared/reference/k8s-aws-rules.md C.2;
 * amazon-vpc-cni-k8s pkg/networkutils network.go `buildIptablesSNATRules`,
 * iptables_connmark.go; layout of v1.16.0 and later):
 *
 *  nat POSTROUTING  -> AWS-SNAT-CHAIN-0: RETURN for each VPC CIDR, then each
 *                      excluded CIDR, every one inserted at position 1 (so
 *                      they end up in reverse config order), and the SNAT to
 *                      the primary ENI IP appended last;
 *  mangle PREROUTING   CONNMARK set on the primary ENI (NodePort traffic) and
 *                      restore on pod veths and vlan links;
 *  nat PREROUTING   -> AWS-CONNMARK-CHAIN-0: RETURN for the same CIDRs (also
 *                      inserted at 1), then set the connmark; followed by a
 *                      restore-mark rule that is deleted and re-appended so it
 *                      stays last.
 *
 * aws-node appends to the built-in chains, so its rules come after
 * kube-proxy's (which are prepended), whatever starts first.
 */
import { formatIPv4, maskOf, parseCidr } from "../util/ipv4.js";
import { comment, hex, type EnsuredRule, type IptablesFragment, type VpcCniOptions } from "./model.js";

/** Go's net.ParseCIDR(...).String(): the network address and the length. */
function cidrText(s: string): string {
  const c = parseCidr(s.trim());
  if (!c || !s.includes("/")) throw new Error(`not an IPv4 CIDR: ${s}`);
  return `${formatIPv4((c.addr & maskOf(c.plen)) >>> 0)}/${c.plen}`;
}

/** `-d CIDR ` as iptables-save prints it: nothing for 0.0.0.0/0 (the kernel keeps no address to match). */
function dst(cidr: string): string {
  return cidr.endsWith("/0") ? "" : `-d ${cidr} `;
}

/** A fresh chain after `iptables -I CHAIN 1` of each of `inserted` in turn, then `-A` of each of `appended` (rules already present are skipped, as aws-node checks with -C first). */
function buildChain(inserted: string[], appended: string[]): string[] {
  const out: string[] = [];
  for (const r of inserted) if (!out.includes(r)) out.unshift(r);
  for (const r of appended) if (!out.includes(r)) out.push(r);
  return out;
}

export function renderVpcCni(opts: VpcCniOptions): IptablesFragment {
  const externalSnat = opts.externalSnat ?? false;
  const nodePortSupport = opts.nodePortSupport ?? true;
  const mark = hex(opts.connmark ?? 0x80);
  const veth = opts.vethPrefix ?? "eni";
  const primaryIf = opts.primaryIf ?? "eth0";
  const layout = opts.layout ?? "v1.23";
  const vpc = opts.vpcCidrs.map(cidrText);
  if (vpc.length === 0) throw new Error("renderVpcCni: vpcCidrs is empty");
  // GetExcludeSNATCIDRs returns nothing under EXTERNALSNAT
  const excluded = externalSnat ? [] : (opts.excludeSnatCidrs ?? []).map(cidrText);

  const nat = new Map<string, string[]>();
  const ensureRules: EnsuredRule[] = [];
  const append = (table: "nat" | "mangle", rule: string) => ensureRules.push({ table, rule, position: "append" });

  // ---- buildIptablesSNATRules: the chain always exists; its rules only without EXTERNALSNAT
  if (!externalSnat) {
    append("nat", `-A POSTROUTING ${comment("AWS SNAT CHAIN")} -j AWS-SNAT-CHAIN-0`);
    const returns = [
      ...vpc.map((c) => `-A AWS-SNAT-CHAIN-0 ${dst(c)}${comment("AWS SNAT CHAIN")} -j RETURN`),
      ...excluded.map((c) => `-A AWS-SNAT-CHAIN-0 ${dst(c)}${comment("AWS SNAT CHAIN EXCLUSION")} -j RETURN`),
    ];
    const random = opts.randomizeSnat ?? "prng";
    const flag = random === "prng" ? " --random-fully" : random === "hashrandom" ? " --random" : "";
    const snat = `-A AWS-SNAT-CHAIN-0 ! -o vlan+ ${comment("AWS, SNAT")} -m addrtype ! --dst-type LOCAL -j SNAT --to-source ${opts.primaryIp}${flag}`;
    nat.set("AWS-SNAT-CHAIN-0", buildChain(returns, [snat]));
  } else {
    nat.set("AWS-SNAT-CHAIN-0", []);
  }
  const primaryEni = comment("AWS, primary ENI");
  if (nodePortSupport) {
    append("mangle", `-A PREROUTING -i ${primaryIf} ${primaryEni} -m addrtype --dst-type LOCAL --limit-iface-in -j CONNMARK --set-xmark ${mark}/${mark}`);
  }
  if (nodePortSupport || !externalSnat) {
    append("mangle", `-A PREROUTING -i ${veth}+ ${primaryEni} -j CONNMARK --restore-mark --nfmask ${mark} --ctmask ${mark}`);
  }
  if (nodePortSupport) {
    append("mangle", `-A PREROUTING -i vlan+ ${primaryEni} -j CONNMARK --restore-mark --nfmask ${mark} --ctmask ${mark}`);
  }

  // ---- connmark for pod-initiated connections leaving the VPC
  if (!externalSnat) {
    append("nat", `-A PREROUTING -i ${veth}+ ${comment("AWS, outbound connections")} -j AWS-CONNMARK-CHAIN-0`);
    const excludedSet = new Set(excluded);
    const returns = [...vpc, ...excluded].map((c) => {
      const text =
        layout === "v1.16" ? (excludedSet.has(c) ? "AWS CONNMARK CHAIN, EXCLUDED CIDR" : "AWS CONNMARK CHAIN, VPC CIDR") : "AWS CONNMARK CHAIN";
      return `-A AWS-CONNMARK-CHAIN-0 ${dst(c)}${comment(text)} -j RETURN`;
    });
    const setMark = `-A AWS-CONNMARK-CHAIN-0 ${comment("AWS, CONNMARK")} -j CONNMARK --set-xmark ${mark}/${mark}`;
    nat.set("AWS-CONNMARK-CHAIN-0", buildChain(returns, [setMark]));
    append("nat", `-A PREROUTING ${comment("AWS, CONNMARK")} -j CONNMARK --restore-mark --nfmask ${mark} --ctmask ${mark}`);
  } else if (layout === "v1.16") {
    // v1.16-v1.22 create the chain unconditionally; v1.23 (Connmark.Cleanup) deletes it
    nat.set("AWS-CONNMARK-CHAIN-0", []);
  }

  return {
    owner: "aws-node",
    // aws-node checks (iptables -C) its nat and mangle rules whether or not they should exist
    touches: ["nat", "mangle"],
    ensureChains: [],
    ensureRules,
    chains: { nat },
  };
}
