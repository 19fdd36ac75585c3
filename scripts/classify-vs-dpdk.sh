#!/usr/bin/env bash
# Rule classification, orbital vs DPDK rte_acl, on the same ClassBench rules
# and header traces, in one run (the machine is shared and noisy: only
# same-run ratios mean anything; see ../shared/data/classbench/README.md).
#
# For each set: `orbital bench classify` (checked against the set's
# first-match answers: any mismatch aborts), then `dpdk-test-acl` with each
# algorithm, then orbital again; the ratio uses the mean of the two orbital
# runs. Both sides classify the whole trace ITER times in bursts of BURST
# headers (test-acl's --tracestep; its default is 256, the pipeline's burst
# is 64), pinned to the same CPU, and report TSC cycles of the whole loop
# per header. DPDK's runtime memory is what rte_acl's build logs ("total");
# its build time is test-acl's wall time with the rules minus with one rule
# (EAL start-up and file parsing are in both, so this is rte_acl_build plus
# rule parsing), ours is Classifier::build alone.
#
# Needs: dpdk-test-acl (Debian package dpdk), python3.
# Usage: scripts/classify-vs-dpdk.sh [set ...]   (default: acl1_10k fw1_10k)
# Environment: CPU (default 1), BURST (64), PACKETS (headers per run, 20000000),
#   ALGS ("scalar avx2 avx512x32"), ORBITAL_SHARED_DATA (../shared/data).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${ORBITAL_SHARED_DATA:-../shared/data}/classbench
CPU=${CPU:-1}
BURST=${BURST:-64}
PACKETS=${PACKETS:-20000000}
read -r -a ALGS <<<"${ALGS:-scalar avx2 avx512x32}"
WORK=$(mktemp -d /tmp/classify-vs-dpdk.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
command -v dpdk-test-acl >/dev/null || { echo "dpdk-test-acl not found: apt-get install -y dpdk" >&2; exit 1; }
[ -d "$DATA" ] || { echo "no ClassBench data in $DATA (set ORBITAL_SHARED_DATA)" >&2; exit 1; }
cargo build --release -q -p orbital
ORB=target/release/orbital
# --no-shconf and a per-run prefix: other DPDK processes may be running.
EAL=(--no-huge -m 4096 -l "$CPU" --no-pci --force-max-simd-bitwidth=512
     --no-shconf --file-prefix "orbital-acl-$$" --log-level=lib.eal:error)
sets=("$@"); [ ${#sets[@]} -gt 0 ] || sets=(acl1_10k fw1_10k)

json() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(d[sys.argv[1]])' "$1"; }

rows=()
for s in "${sets[@]}"; do
  [ -f "$DATA/$s.gz" ] || { echo "unknown set $s (no $DATA/$s.gz)" >&2; exit 2; }
  zcat "$DATA/$s.gz" >"$WORK/rules"
  zcat "$DATA/${s}_trace.gz" >"$WORK/trace"
  head -n 1 "$WORK/rules" >"$WORK/one"
  nrules=$(wc -l <"$WORK/rules")
  ntrace=$(wc -l <"$WORK/trace")
  iter=$(( (PACKETS + ntrace - 1) / ntrace ))

  ours() {
    "$ORB" bench classify --rules "$DATA/$s.gz" --trace "$DATA/${s}_trace.gz" \
      --expect "$DATA/${s}_trace.match.gz" --burst "$BURST" --iter "$iter" --cpu "$CPU" --json
  }
  a=$(ours)
  mm=$(echo "$a" | json mismatches)
  [ "$mm" = 0 ] || { echo "$s: orbital classified $mm headers differently from the answers" >&2; exit 1; }

  acl() { # alg [extra EAL args]: test-acl's output
    dpdk-test-acl "${EAL[@]}" "${@:2}" -- --rulesf="$WORK/rules" --tracef="$WORK/trace" \
      --rulenum="$nrules" --tracenum="$ntrace" --tracestep="$BURST" --iter="$iter" \
      --verbose=0 --alg="$1"
  }
  dpdk=()
  for alg in "${ALGS[@]}"; do
    c=$(acl "$alg" 2>"$WORK/err" | sed -n 's/.* \([0-9.]*\) cycles\/pkt.*/\1/p')
    [ -n "$c" ] || { echo "$s: dpdk-test-acl --alg=$alg failed:" >&2; cat "$WORK/err" >&2; exit 1; }
    dpdk+=("$alg=$c")
  done
  mem=$(dpdk-test-acl "${EAL[@]}" --log-level=lib.acl:debug -- --rulesf="$WORK/rules" \
          --rulenum="$nrules" --verbose=0 2>&1 | sed -n 's/^total: \([0-9]*\) bytes.*/\1/p' | head -n 1)
  t0=$(date +%s%N)
  dpdk-test-acl "${EAL[@]}" -- --rulesf="$WORK/rules" --rulenum="$nrules" --verbose=0 >/dev/null 2>&1
  t1=$(date +%s%N)
  dpdk-test-acl "${EAL[@]}" -- --rulesf="$WORK/one" --rulenum=1 --verbose=0 >/dev/null 2>&1
  t2=$(date +%s%N)
  b=$(ours)

  rows+=("$(python3 - "$s" "$a" "$b" "$mem" "$(( (t1 - t0) - (t2 - t1) ))" "${dpdk[@]}" <<'PY'
import json, sys
s, a, b, mem, bns, *dpdk = sys.argv[1:]
a, b = json.loads(a), json.loads(b)
ours = (a["cycles_per_packet"] + b["cycles_per_packet"]) / 2
cells = []
for d in dpdk:
    alg, c = d.split("=")
    cells.append(f"{alg} {float(c):6.1f} (x{ours / float(c):.2f})")
print(f"{s:10} {a['rules']:6} rules | orbital {ours:6.1f} ({a['cycles_per_packet']:.1f}/{b['cycles_per_packet']:.1f})"
      f" build {a['build_ms']:7.1f} ms {a['memory_bytes'] / 1e6:6.2f} MB"
      f" | rte_acl build ~{max(int(bns), 0) / 1e6:7.1f} ms {int(mem or 0) / 1e6:6.2f} MB | " + "  ".join(cells))
PY
)")
done
echo "cycles per header, bursts of $BURST, CPU $CPU, same rules and trace, one run;"
echo "(xR) = orbital / rte_acl: below 1 means orbital is faster"
printf '%s\n' "${rows[@]}"
