#!/usr/bin/env python3
"""Write a firewall for `orbital bench forward --firewall`: the edge policy
of examples/edge-firewall.toml (its ports named lan0 and wan0) with N more
rules in front of it that the benchmark's traffic (UDP from 10.0.0.0/8)
does not match: drops of random WAN sources, ports and protocols, as an
ACL would have. Deterministic (seeded).

    python3 scripts/firewall-rules.py 1000 > /tmp/fw-1k.toml
"""
import random
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
rng = random.Random(7)
rules = []
for i in range(n):
    a, b = rng.randrange(11, 223), rng.randrange(256)
    kind = i % 4
    if kind == 0:
        rules.append(f"ip saddr {a}.{b}.0.0/16 drop")
    elif kind == 1:
        rules.append(f"ip saddr {a}.{b}.{rng.randrange(256)}.0/24 tcp dport {rng.randrange(1, 65536)} drop")
    elif kind == 2:
        lo = rng.randrange(1, 60000)
        rules.append(f"iif wan0 udp dport {lo}-{lo + rng.randrange(1, 500)} drop")
    else:
        rules.append(f"ip saddr {a}.0.0.0/8 ip daddr {b}.0.0.0/8 icmp type echo-request drop")

print(f"""# The edge policy with {n} ACL rules before it (scripts/firewall-rules.py).
[[firewall.chain]]
name = "forward"
hook = "forward"
policy = "drop"
rules = [""")
for r in rules:
    print(f'  "{r}",')
print("""  "ct state invalid drop",
  "ct state established,related accept",
  "iif lan0 oif wan0 accept",
]

[[firewall.chain]]
name = "input"
hook = "input"
policy = "drop"
rules = [
  "ct state established,related accept",
  "iif lan0 accept",
  "icmp type echo-request limit rate 10/second accept",
]""")
