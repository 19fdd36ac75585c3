#!/usr/bin/env bash
# Whole-pipeline forwarding, orbital vs DPDK l3fwd (LPM mode), one core, in
# memory, in one run: the same IPv4 routes (the Internet table from
# ../shared/data/routes, every route out of port 1), the same 64 B frames
# (4,096 UDP flows to destinations drawn from the table: the pcap PMD's
# infinite_rx wants an mbuf per frame of the file), the same CPU.
#   orbital: `orbital bench forward --pcap`  (frames copied into buffers, sink)
#   l3fwd:   net_pcap infinite_rx -> LPM -> net_null (frames copied into
#            mbufs, null PMD frees them), rate from DPDK telemetry.
# Orbital runs before and after l3fwd; the ratio uses their mean.
# l3fwd is built from the installed DPDK examples into a temp dir, with two
# changes: no RX checksum offload request (the pcap PMD has none: EINVAL
# otherwise) and an LPM sized for a full table (the example allows 1,024).
# Needs: dpdk-dev libdpdk-dev dpdk-doc pkg-config (apt). Env: T (seconds,
# default 5), CPU (default: the last CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
T=${T:-5}
CPU=${CPU:-$(($(nproc) - 1))}
TABLE=${ORBITAL_SHARED_DATA:-../shared/data}/routes/fulltable-v4v6-bart.txt.gz
W=$(mktemp -d /tmp/fwd-vs-l3fwd.XXXXXX)
L3PID=
cleanup() { [ -n "$L3PID" ] && kill "$L3PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
pkg-config --exists libdpdk && [ -d /usr/share/dpdk/examples/l3fwd ] ||
  { echo "needs DPDK: apt-get install -y dpdk-dev libdpdk-dev dpdk-doc pkg-config" >&2; exit 1; }

cp -r /usr/share/dpdk/examples/l3fwd /usr/share/dpdk/examples/common "$W/"
sed -i 's|\.offloads = RTE_ETH_RX_OFFLOAD_CHECKSUM,|.offloads = 0,|' "$W/l3fwd/main.c"
sed -i -e 's|^#define IPV4_L3FWD_LPM_MAX_RULES.*|#define IPV4_L3FWD_LPM_MAX_RULES (1 << 21)|' \
       -e 's|^#define IPV4_L3FWD_LPM_NUMBER_TBL8S.*|#define IPV4_L3FWD_LPM_NUMBER_TBL8S (1 << 16)|' "$W/l3fwd/l3fwd_lpm.c"
make -C "$W/l3fwd" -j"$(nproc)" >/dev/null 2>&1 || { echo "building l3fwd failed" >&2; exit 1; }

zcat "$TABLE" | tr -d '\r' | grep -v ':' | awk 'NF { print "R" $1 " 1" }' > "$W/rules4.cfg"
echo "R2001:db8::/32 1" > "$W/rules6.cfg"
cargo build --release -q -p orbital
ORB=target/release/orbital
$ORB bench forward --routes-file "$TABLE" --flows 4096 --seconds 0.2 --dump-pcap "$W/flows.pcap" > /dev/null

orbital() {
  taskset -c "$CPU" $ORB bench forward --routes-file "$TABLE" --pcap "$W/flows.pcap" --seconds "$T" --json |
    python3 -c 'import json,sys; print(round(json.load(sys.stdin)["mpps"], 3))'
}

# Packets/s sent on a DPDK port, from the telemetry socket (two readings T apart).
dpdk_rate() {
  python3 - "$1" "$2" "$T" <<'PY'
import json, socket, sys, time
path, port, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
def opackets():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(path)
    s.recv(4096)                       # greeting
    s.send(f"/ethdev/stats,{port}".encode())
    v = json.loads(s.recv(65536))["/ethdev/stats"]["opackets"]
    s.close()
    return v
a, t0 = opackets(), time.time()
time.sleep(secs)
b, t1 = opackets(), time.time()
print(round((b - a) / (t1 - t0) / 1e6, 3))
PY
}

a=$(orbital)
taskset -c "$CPU" "$W/l3fwd/build/l3fwd" -l "$CPU" -n 1 --no-pci --no-huge -m 3072 --file-prefix orbital-l3fwd \
  --vdev "net_pcap0,rx_pcap=$W/flows.pcap,infinite_rx=1,tx_pcap=/dev/null" --vdev net_null1,no-rx=1 -- \
  -p 0x3 --config="(0,0,$CPU)" --parse-ptype --rule_ipv4="$W/rules4.cfg" --rule_ipv6="$W/rules6.cfg" \
  > "$W/l3fwd.log" 2>&1 &
L3PID=$!
for _ in $(seq 600); do grep -q "entering main loop" "$W/l3fwd.log" && break; kill -0 $L3PID 2>/dev/null || break; sleep 1; done
grep -q "entering main loop" "$W/l3fwd.log" || { echo "l3fwd did not start:"; tail -20 "$W/l3fwd.log"; exit 1; }
sleep 2
l3=$(dpdk_rate /var/run/dpdk/orbital-l3fwd/dpdk_telemetry.v2 1)
kill $L3PID; wait $L3PID 2>/dev/null || true; L3PID=
b=$(orbital)
python3 - "$a" "$b" "$l3" <<'PY'
import sys
a, b, l3 = map(float, sys.argv[1:])
o = (a + b) / 2
print("64 B frames, 4,096 flows to the full IPv4 table, one core:")
print(f"orbital {o:.2f} Mpps ({a:.2f}/{b:.2f})   DPDK l3fwd-lpm {l3:.2f} Mpps   ratio orbital/l3fwd {o/l3:.2f}")
PY
