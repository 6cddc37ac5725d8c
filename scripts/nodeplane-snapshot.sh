#!/bin/sh
# nodeplane-snapshot.sh: capture a Linux node's IPv4 dataplane state into a
# snapshot directory that nodeplane reads (readSnapshotDir).
#
# Run it ON THE NODE, as root (iptables-save needs root):
#
#   sh nodeplane-snapshot.sh [OUTDIR]
#
# OUTDIR defaults to ./node-snapshot-HOSTNAME-YYYYMMDDHHMMSS. To capture a
# network namespace instead of the host's, run it inside one:
#
#   ip netns exec NS sh nodeplane-snapshot.sh OUTDIR
#
# It only reads state (ip, sysctl, ss, iptables-save, files under
# /etc/iproute2); it changes nothing on the node. Files written:
#
#   ip-link.txt        ip -o link show
#   ip-addr.txt        ip -o addr show
#   ip-route.txt       ip route show table all
#   ip-rule.txt        ip rule show
#   sysctl.txt         sysctl net.ipv4.ip_forward net.ipv4.conf ... ; sysctl net.netfilter
#   ss.txt             ss -Htlnu                     (if ss exists)
#   iptables-save.txt  iptables-save -c              (if iptables-save exists; with both nft and
#                      legacy tables, the one with more rules, the other beside it)
#   ipset.txt          ipset save                    (if ipset exists and sets are defined)
#   rt_tables.txt      /etc/iproute2/rt_tables + rt_tables.d/*.conf (if present)
#   meta.txt           kernel release, hostname, date, CONFIG_HZ, ... (informational)

set -u
LC_ALL=C
export LC_ALL
PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin
export PATH

prog=nodeplane-snapshot

usage() {
  echo "usage: $prog [OUTDIR]"
  echo "  Writes the node's routing, address, sysctl, socket and iptables state to OUTDIR"
  echo "  (default ./node-snapshot-HOSTNAME-YYYYMMDDHHMMSS). Run as root on the node, or"
  echo "  inside a network namespace with: ip netns exec NS $0 OUTDIR"
}

die() {
  echo "$prog: error: $*" >&2
  exit 1
}

warn() {
  echo "$prog: warning: $*" >&2
}

have() {
  command -v "$1" >/dev/null 2>&1
}

case "${1:-}" in
  -h | --help)
    usage
    exit 0
    ;;
  -*)
    usage >&2
    exit 2
    ;;
esac
[ $# -le 1 ] || {
  usage >&2
  exit 2
}

host=$(hostname 2>/dev/null || uname -n 2>/dev/null || cat /proc/sys/kernel/hostname 2>/dev/null || echo node)
out=${1:-./node-snapshot-$host-$(date +%Y%m%d%H%M%S)}

have ip || die "the ip command (iproute2) is required"
have sysctl || die "the sysctl command is required"
[ "$(id -u 2>/dev/null || echo 0)" = 0 ] ||
  warn "not running as root: iptables-save (and some sysctl keys) may be unreadable"

mkdir -p "$out" || die "cannot create directory $out"

# capture FILE COMMAND...: a required file; stop if the command fails.
capture() {
  f=$1
  shift
  "$@" >"$out/$f" || die "'$*' failed (writing $out/$f)"
}

capture ip-link.txt ip -o link show
capture ip-addr.txt ip -o addr show
capture ip-route.txt ip route show table all
capture ip-rule.txt ip rule show

# sysctl prints what it can and complains about keys this kernel lacks (the
# complaints, "sysctl: ...", are kept: nodeplane reports them as notices).
{
  sysctl net.ipv4.ip_forward net.ipv4.conf net.ipv4.icmp_ratemask net.ipv4.icmp_ratelimit \
    net.ipv4.icmp_msgs_per_sec net.ipv4.icmp_msgs_burst net.ipv4.icmp_echo_ignore_all \
    net.ipv4.icmp_echo_ignore_broadcasts net.ipv4.icmp_errors_use_inbound_ifaddr \
    net.ipv4.ip_default_ttl net.ipv4.fwmark_reflect net.ipv4.ip_no_pmtu_disc \
    net.ipv4.ipfrag_time net.ipv4.ipfrag_max_dist net.ipv4.ipfrag_high_thresh 2>&1
  # Conntrack settings: absent when nf_conntrack is not loaded.
  sysctl net.netfilter 2>/dev/null
} >"$out/sysctl.txt"
grep -q '^net\.ipv4\.ip_forward' "$out/sysctl.txt" || die "sysctl did not print net.ipv4.ip_forward (see $out/sysctl.txt)"

if have ss; then
  if ! ss -Htlnu >"$out/ss.txt" 2>/dev/null; then
    # ss before iproute2 4.15 has no -H: drop the header line instead.
    ss -tlnu 2>/dev/null | sed 1d >"$out/ss.txt" || {
      warn "ss failed: no ss.txt (local sockets will be unknown)"
      rm -f "$out/ss.txt"
    }
  fi
else
  warn "ss not found: no ss.txt (local sockets will be unknown)"
fi

if have iptables-save; then
  if iptables-save -c >"$out/iptables-save.txt" 2>"$out/.iptables-save.err"; then
    # iptables-nft says legacy tables are present (iptables 1.8.9 on stderr, older versions
    # as a comment in the output): the node's rules may be those (EKS AMIs with
    # iptables-legacy, a host whose default iptables is nft). The one with more rules
    # goes into iptables-save.txt, as kube-proxy's iptables-wrapper picks its mode
    # by the rules each holds; the other is kept beside it.
    if grep -q 'iptables-legacy tables present' "$out/iptables-save.txt" "$out/.iptables-save.err" && have iptables-legacy-save; then
      if iptables-legacy-save -c >"$out/.legacy.txt" 2>/dev/null; then
        nft_rules=$(grep -c -- '-A ' "$out/iptables-save.txt" || true)
        legacy_rules=$(grep -c -- '-A ' "$out/.legacy.txt" || true)
        if [ "$legacy_rules" -gt "$nft_rules" ]; then
          mv "$out/iptables-save.txt" "$out/iptables-nft-save.txt"
          mv "$out/.legacy.txt" "$out/iptables-save.txt"
          [ "$nft_rules" -gt 0 ] && warn "iptables rules in both legacy ($legacy_rules) and nft ($nft_rules) tables: iptables-save.txt has the legacy ones, iptables-nft-save.txt the others (the replay uses iptables-save.txt)"
        else
          mv "$out/.legacy.txt" "$out/iptables-legacy-save.txt"
          [ "$legacy_rules" -gt 0 ] && warn "iptables rules in both nft ($nft_rules) and legacy ($legacy_rules) tables: iptables-save.txt has the nft ones, iptables-legacy-save.txt the others (the replay uses iptables-save.txt)"
        fi
      else
        rm -f "$out/.legacy.txt"
      fi
    fi
    rm -f "$out/.iptables-save.err"
  else
    warn "iptables-save -c failed: $(cat "$out/.iptables-save.err" 2>/dev/null) (no iptables-save.txt)"
    rm -f "$out/iptables-save.txt" "$out/.iptables-save.err"
  fi
else
  warn "iptables-save not found: no iptables-save.txt"
fi

# IP sets that -m set rules test (kube-proxy's IPVS mode, network policy agents)
if have ipset; then
  if ipset save >"$out/ipset.txt" 2>"$out/.ipset.err"; then
    rm -f "$out/.ipset.err"
    [ -s "$out/ipset.txt" ] || rm -f "$out/ipset.txt"
  else
    warn "ipset save failed: $(cat "$out/.ipset.err" 2>/dev/null) (no ipset.txt)"
    rm -f "$out/ipset.txt" "$out/.ipset.err"
  fi
elif grep -q -- '-m set ' "$out/iptables-save.txt" 2>/dev/null; then
  warn "rules use -m set but ipset is not installed: no ipset.txt (the snapshot will not load)"
fi

# Routing table names: the base file (iproute2 >= 6.5 keeps the defaults in
# /usr/share or /usr/lib and reads /etc first), then every rt_tables.d/*.conf
# (later lines win, so /etc comes last).
rt=
for d in /etc/iproute2 /usr/share/iproute2 /usr/lib/iproute2; do
  if [ -f "$d/rt_tables" ]; then
    rt=$d/rt_tables
    break
  fi
done
{
  if [ -n "$rt" ]; then
    echo "# $rt"
    cat "$rt"
  fi
  for d in /usr/lib/iproute2 /usr/share/iproute2 /etc/iproute2; do
    for f in "$d"/rt_tables.d/*.conf; do
      if [ -f "$f" ]; then
        echo "# $f"
        cat "$f"
      fi
    done
  done
} >"$out/rt_tables.txt"
grep -q '^[[:space:]]*[0-9]' "$out/rt_tables.txt" || rm -f "$out/rt_tables.txt"

kernel=$(uname -r)
hz=
if [ -r "/boot/config-$kernel" ]; then
  hz=$(grep '^CONFIG_HZ=' "/boot/config-$kernel" 2>/dev/null)
fi
if [ -z "$hz" ] && [ -r /proc/config.gz ]; then
  if have zcat; then
    hz=$(zcat /proc/config.gz 2>/dev/null | grep '^CONFIG_HZ=')
  elif have gzip; then
    hz=$(gzip -dc /proc/config.gz 2>/dev/null | grep '^CONFIG_HZ=')
  fi
fi
netns=$(ip netns identify $$ 2>/dev/null || true)
{
  echo "kernel=$kernel"
  echo "hostname=$host"
  echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  [ -z "$hz" ] || echo "$hz"
  [ -z "$netns" ] || echo "netns=$netns"
  echo "iproute2=$(ip -V 2>&1 | head -n 1)"
  echo "snapshot_script=$prog 1"
} >"$out/meta.txt"

echo "$prog: wrote $out:" >&2
ls -l "$out" >&2
