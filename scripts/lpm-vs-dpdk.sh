#!/usr/bin/env bash
# Route lookup, orbital vs DPDK, on the same routes and the same addresses,
# in one run (the machine is shared and noisy: only same-run ratios mean
# anything). Three workloads:
#   v4-real   the Internet table (../shared/data/routes), addresses drawn
#             round-robin from the routes with random host bits
#   v4-synth  dpdk-test-fib's own generator: 1M routes, the issue's
#             distribution, 10M lookups (dumped by DPDK, read by both)
#   v6-real   the IPv6 half of the Internet table
# Orbital runs before and after DPDK; the ratio uses their mean.
# Needs: dpdk-test-fib (Debian package dpdk-dev), a release build.
# Usage: scripts/lpm-vs-dpdk.sh [v4-real] [v4-synth] [v6-real]
set -euo pipefail
cd "$(dirname "$0")/.."
TABLE=${ORBITAL_SHARED_DATA:-../shared/data}/routes/fulltable-v4v6-bart.txt.gz
WORK=$(mktemp -d /tmp/lpm-vs-dpdk.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
command -v dpdk-test-fib >/dev/null || { echo "dpdk-test-fib not found: apt-get install -y dpdk-dev" >&2; exit 1; }
cargo build --release -q -p orbital
ORB=target/release/orbital
EAL=(--no-huge -m 6000 -l 1 --no-pci --log-level=lib.eal:error --file-prefix orbital-lpm)
cases=("$@"); [ ${#cases[@]} -gt 0 ] || cases=(v4-real v4-synth v6-real)

cyc() { python3 -c 'import json,sys; print(round(json.load(sys.stdin)["cycles_per_lookup"],2))'; }

row() { # name ours_before ours_after lpm fib
  python3 - "$@" <<'PY'
import sys
name, a, b, lpm, fib = sys.argv[1], *map(float, sys.argv[2:])
ours = (a + b) / 2
print(f"{name:9} orbital {ours:6.1f} ({a:.1f}/{b:.1f})  rte_lpm {lpm:6.1f}  rte_fib {fib:6.1f}"
      f"  ratio orbital/rte_lpm {ours/lpm:.2f}  orbital/rte_fib {ours/fib:.2f}")
PY
}

results=()
for c in "${cases[@]}"; do
  case $c in
    v4-real)
      $ORB bench lpm --routes-file "$TABLE" --dump-routes "$WORK/r4" --dump-lookups "$WORK/l4" --json >/dev/null
      a=$($ORB bench lpm --routes-file "$WORK/r4" --lookups-file "$WORK/l4" --json | cyc)
      out=$(dpdk-test-fib "${EAL[@]}" -- -f "$WORK/r4" -t "$WORK/l4" -c -g 100000 -e 4)
      b=$($ORB bench lpm --routes-file "$WORK/r4" --lookups-file "$WORK/l4" --json | cyc) ;;
    v4-synth)
      dpdk-test-fib "${EAL[@]}" -- -n 1000000 -l 10000000 -g 100000 -e 4 \
        -d "16:5%,19:5%,20:10%,21:5%,22:15%,23:10%,24:50%" -w "$WORK/rs4" -u "$WORK/ls4" >/dev/null
      a=$($ORB bench lpm --routes-file "$WORK/rs4" --lookups-file "$WORK/ls4" --json | cyc)
      out=$(dpdk-test-fib "${EAL[@]}" -- -f "$WORK/rs4" -t "$WORK/ls4" -c -g 100000 -e 4)
      b=$($ORB bench lpm --routes-file "$WORK/rs4" --lookups-file "$WORK/ls4" --json | cyc) ;;
    v6-real)
      $ORB bench lpm --family ipv6 --routes-file "$TABLE" --dump-routes "$WORK/r6" --dump-lookups "$WORK/l6" --json >/dev/null
      a=$($ORB bench lpm --family ipv6 --routes-file "$WORK/r6" --lookups-file "$WORK/l6" --json | cyc)
      out=$(dpdk-test-fib "${EAL[@]}" -- -6 -f "$WORK/r6" -t "$WORK/l6" -c -g 1000000 -e 4)
      b=$($ORB bench lpm --family ipv6 --routes-file "$WORK/r6" --lookups-file "$WORK/l6" --json | cyc) ;;
    *) echo "unknown case $c" >&2; exit 2 ;;
  esac
  echo "$out" | grep -q "same values" || { echo "$c: DPDK's FIB and LPM disagree or failed:"; echo "$out"; exit 1; }
  lpm=$(echo "$out" | awk '/AVG LPM lookup/ {print $4}')
  fib=$(echo "$out" | awk '/AVG FIB lookup/ {print $4}')
  results+=("$(row "$c" "$a" "$b" "$lpm" "$fib")")
done
echo "cycles per lookup, bursts of 64, same routes and addresses, one run:"
printf '%s\n' "${results[@]}"
