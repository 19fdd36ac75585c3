#!/usr/bin/env bash
# veth-throughput.sh [SECONDS]: forwarding rate over veth on this machine, in one run:
#
#   ovgen[g0 198.18.0.2] <-> [r0 198.18.0.1] ovrtr [r1 198.18.1.1] <-> [s0 198.18.1.2] ovsink
#
# 64 B UDP frames over 65,536 flows (src 10.66.0.x x sport 0x10xx) from trafgen
# (netsniff-ng) pinned to CPU0; the router pinned to CPU1 (its veths' threaded
# NAPI kthreads too, so kernel receive work for the router lands on the router's
# CPU); the sink drops at tc ingress and counts at the veth. Cases:
#   generator  - the router namespace drops everything at r0 ingress (ceiling)
#   linux      - the kernel forwards (ip_forward=1)
#   af_packet  - `orbital run` with AF_PACKET ports on r0/r1 (TPACKET_V3)
#   af_xdp     - `orbital run` with AF_XDP ports on r0/r1 (its own XDP program,
#                copy mode, UMEM = the buffer pool), program in generic mode so
#                the veth's receive work stays on the router's CPU (threaded
#                NAPI pinned there), as in the cases above
#   linux-nft  - the kernel forwards with the firewall half of
#                ../shared/peers/rtr-fw-nat.nft (conntrack, stateful accept,
#                a blocklist set, port rules; one-way UDP stays `new`)
#   af_packet-fw, af_xdp-fw - orbital with that firewall in our syntax
#                (the same rules, order and policy; conntrack on)
#   af_xdp-native - the same in native (driver) mode, NAPI not threaded: veth
#                then runs the XDP program and the copy into the UMEM in the
#                sender's softirq, i.e. on the generator's CPU. (Native mode
#                with threaded NAPI stalls on this kernel, 6.18: the generator's
#                veth queue stops after ~1,800 frames and is never woken.)
# Prints packets/s at the sink for each and the ratios. Needs root, iproute2,
# ethtool, nftables, netsniff-ng (trafgen). Leaves nothing behind.
set -euo pipefail
T=${1:-10}
HERE=$(cd "$(dirname "$0")/.." && pwd)
ORB=${ORBITAL:-$HERE/target/release/orbital}
[ -x "$ORB" ] || (cd "$HERE" && cargo build --release -p orbital >/dev/null)
command -v trafgen >/dev/null || { echo "needs trafgen (apt-get install netsniff-ng)"; exit 1; }
W=$(mktemp -d); GEN=ovgen RTR=ovrtr SINK=ovsink
nsx() { local n=$1; shift; ip netns exec "$n" "$@"; }
down() { for n in $GEN $RTR $SINK; do ip netns del $n 2>/dev/null || true; done; rm -rf "$W"; }
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; down' EXIT
down; mkdir -p "$W"
for n in $GEN $RTR $SINK; do ip netns add $n; nsx $n ip link set lo up; done
ip link add g0 netns $GEN address 02:66:00:00:00:10 type veth peer name r0 netns $RTR address 02:66:00:00:00:11
ip link add r1 netns $RTR address 02:66:00:00:01:11 type veth peer name s0 netns $SINK address 02:66:00:00:01:10
for x in "$GEN g0" "$RTR r0" "$RTR r1" "$SINK s0"; do set -- $x
  nsx $1 ip link set $2 up
  nsx $1 ethtool -K $2 gro on rx-udp-gro-forwarding off >/dev/null 2>&1 || true
  nsx $1 sh -c "echo 1 > /sys/class/net/$2/threaded" 2>/dev/null || true
done
pin() { for d in r0:1 r1:1 g0:0 s0:0; do
  for p in $(ps -eo pid=,comm= | awk -v d="napi/${d%:*}-" 'index($2,d)==1{print $1}'); do taskset -pc ${d#*:} $p >/dev/null; done; done; }
pin
nsx $SINK ip addr add 198.18.1.2/24 dev s0
drop_at() { # ns table dev...: drop everything at netdev ingress (after AF_PACKET taps)
  local ns=$1 t=$2 i=0; shift 2
  { echo "table netdev $t {"
    for d in "$@"; do echo "  chain in$i { type filter hook ingress device \"$d\" priority 0; policy drop; }"; i=$((i+1)); done
    echo "}"; } | nsx $ns nft -f -; }
drop_at $SINK sinkdrop s0
cnt() { nsx $1 cat /sys/class/net/$2/statistics/$3; }
mac2c() { echo $1 | sed 's/^/0x/; s/:/, 0x/g'; }
cat > $W/udp64.cfg <<CFG
{ $(mac2c 02:66:00:00:00:11), $(mac2c 02:66:00:00:00:10), 0x08, 0x00,
  0x45, 0x00, 0x00, 0x2e, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, csumip(14, 33),
  10, 66, 0, drnd(1),  198, 18, 1, 2,  0x10, drnd(1), 0x04, 0xd2,  0x00, 0x1a, 0x00, 0x00,
  fill(0x41, 18) }
CFG
window() { # label -> sink pps
  (timeout -s INT $((T + 3)) ip netns exec $GEN taskset -c 0 trafgen -i $W/udp64.cfg -o g0 -P 1 -C -Q -q >/dev/null 2>&1 || true) &
  sleep 2
  local s0 g0 s1 g1 c0 c1; s0=$(cnt $SINK s0 rx_packets); g0=$(cnt $GEN g0 tx_packets); c0=$(cnt $RTR r0 rx_packets)
  sleep $T
  s1=$(cnt $SINK s0 rx_packets); g1=$(cnt $GEN g0 tx_packets); c1=$(cnt $RTR r0 rx_packets)
  wait
  printf "%-10s sink %9d pps   generator %9d pps   r0 rx %9d pps\n" "$1" $(( (s1-s0)/T )) $(( (g1-g0)/T )) $(( (c1-c0)/T )) >&2
  if [ "$1" = generator ]; then echo $(( (c1-c0)/T )); else echo $(( (s1-s0)/T )); fi
}
# generator ceiling: drop at r0 ingress, count r0 rx.
drop_at $RTR gendrop r0
GENP=$(window generator)
nsx $RTR nft delete table netdev gendrop
# Linux forwarding.
nsx $RTR ip addr add 198.18.0.1/24 dev r0; nsx $RTR ip addr add 198.18.1.1/24 dev r1
nsx $RTR ip route add 10.66.0.0/16 via 198.18.0.2
nsx $RTR ip neigh replace 198.18.1.2 lladdr 02:66:00:00:01:10 dev r1 nud permanent
nsx $RTR ip neigh replace 198.18.0.2 lladdr 02:66:00:00:00:10 dev r0 nud permanent
for s in all default r0 r1; do nsx $RTR sysctl -qw net.ipv4.conf.$s.rp_filter=0; done
nsx $RTR sysctl -qw net.ipv4.ip_forward=1
LINUX=$(window linux)
# The firewall half of the peers' nft file, its interface names ours.
PEERS=${PEERS:-$HERE/../shared/peers}
sed -n '/^table inet filt/,$p' "$PEERS/rtr-fw-nat.nft" | sed 's/pfr0/r0/g; s/pfr1/r1/g' | nsx $RTR nft -f -
LINUXFW=$(window linux-nft)
nsx $RTR nft delete table inet filt
nsx $RTR sysctl -qw net.ipv4.ip_forward=0
nsx $RTR ip addr flush dev r0; nsx $RTR ip addr flush dev r1
nsx $RTR sysctl -qw net.ipv6.conf.all.disable_ipv6=1
# orbital on AF_PACKET. AF_PACKET taps see frames before netdev ingress, so a
# drop there spares the kernel stack its own copy of every frame (as the
# DPDK af_packet peers are measured).
drop_at $RTR rtrdrop r0 r1
config() { # backend [xdp_mode] -> router.toml
local extra=""; [ -n "${2:-}" ] && extra="xdp_mode = \"$2\"
ring_size = ${XDP_RING:-8192}"
cat > $W/router.toml <<TOML
[engine]
workers = 1
cpus = [1]
api_socket = "$W/orbital.sock"
[[port]]
name = "r0"
backend = "$1"
$extra
device = "r0"
mac = "02:66:00:00:00:11"
addresses = ["198.18.0.1/24"]
[[port]]
name = "r1"
backend = "$1"
$extra
device = "r1"
mac = "02:66:00:00:01:11"
addresses = ["198.18.1.1/24"]
[[route]]
prefix = "10.66.0.0/16"
via = "198.18.0.2"
[[neighbor]]
address = "198.18.0.2"
mac = "02:66:00:00:00:10"
port = "r0"
[[neighbor]]
address = "198.18.1.2"
mac = "02:66:00:00:01:10"
port = "r1"
TOML
if [ -n "${FW:-}" ]; then cat >> $W/router.toml <<'TOML'
# rtr-fw-nat.nft's table inet filt, in our syntax.
[conntrack]
max_entries = 262144
[[firewall.set]]
name = "blocked4"
type = "ipv4_addr"
elements = ["192.0.2.0/24", "203.0.113.0/24", "100.64.0.0/10"]
[[firewall.chain]]
name = "forward_f"
hook = "forward"
policy = "drop"
rules = [
  "ct state established,related accept",
  "ct state invalid drop",
  "ip saddr @blocked4 drop",
  "iif r0 oif r1 tcp dport { 22, 80, 443 } accept",
  "iif r0 oif r1 udp dport { 53, 123, 1234 } ct state new accept",
]
TOML
fi
}
orbital() { # backend [xdp_mode] -> sink pps
  config $1 ${2:-}
  # Not through the nsx function: $! must be the daemon itself (ip execs it).
  ip netns exec $RTR "$ORB" run --config $W/router.toml > $W/orbital.log 2>&1 &
  local op=$! i r
  for i in $(seq 100); do grep -q "orbital: running" $W/orbital.log && break; sleep 0.1; done
  grep -q "orbital: running" $W/orbital.log || { cat $W/orbital.log >&2; kill $op; exit 1; }
  grep "AF_XDP on" $W/orbital.log >&2 || true
  pin
  r=$(window $1${2:+-$2}${FW:+-fw})
  "$HERE/target/release/orbctl" --socket $W/orbital.sock show ports >&2 || true
  [ -n "${FW:-}" ] && { "$HERE/target/release/orbctl" --socket $W/orbital.sock show firewall >&2 || true; }
  kill -TERM $op; wait $op 2>/dev/null || true
  echo $r
}
ORBP=$(orbital af_packet)
ORBPF=$(FW=1 orbital af_packet)
# AF_XDP: the XDP program takes every frame before the stack; no nft needed.
nsx $RTR nft delete table netdev rtrdrop
XDPP=$(orbital af_xdp generic)
XDPPF=$(FW=1 orbital af_xdp generic)
for d in r0 r1; do nsx $RTR sh -c "echo 0 > /sys/class/net/$d/threaded"; done
XDPN=$(orbital af_xdp native)
if nsx $RTR ip -d link show | grep -q xdp; then echo "an XDP program was left behind" >&2; exit 1; fi
python3 - "$GENP" "$LINUX" "$ORBP" "$XDPP" "$XDPN" "$LINUXFW" "$ORBPF" "$XDPPF" <<'PY'
import sys
g, l, o, x, n, lf, of, xf = (int(v) for v in sys.argv[1:])
print("64 B UDP, 65,536 flows, router on CPU1, generator on CPU0 (veth):")
print(f"generator ceiling {g/1e6:.3f} Mpps   linux forwarding {l/1e6:.3f} Mpps")
print(f"orbital af_packet {o/1e6:.3f} Mpps   af_xdp {x/1e6:.3f} Mpps   "
      f"af_xdp native (receive on the generator's CPU) {n/1e6:.3f} Mpps")
for name, v in (("af_packet", o), ("af_xdp", x), ("af_xdp native", n)):
    print(f"{name:14s} /linux {v/max(l,1):.2f}   /generator {v/max(g,1):.2f}")
print(f"with the firewall (rtr-fw-nat.nft's filter half, conntrack): linux nftables "
      f"{lf/1e6:.3f} Mpps ({lf/max(l,1):.2f} of plain), orbital af_packet {of/1e6:.3f} Mpps "
      f"({of/max(o,1):.2f} of plain), af_xdp {xf/1e6:.3f} Mpps ({xf/max(x,1):.2f} of plain)")
for name, v in (("af_packet-fw", of), ("af_xdp-fw", xf)):
    print(f"{name:14s} /linux-nft {v/max(lf,1):.2f}")
PY
