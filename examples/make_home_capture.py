#!/usr/bin/env python3
"""Write examples/home-lan.pcap and examples/home-wan.pcap: both sides of
the home router of examples/home-router.toml in one timeline, exercising
stateful NAT: endpoint-independent mapping with two hosts on the same
source port, filtering, TCP, a port forward and its hairpin, ICMP echo and
an ICMP error, and a mapping's timeout on the engine clock. Standard
library only, fixed timestamps: `python3 examples/make_home_capture.py`
rebuilds them byte for byte. (The external ports the router picks are its
own; crates/orbital/tests/nat.rs checks what it sends.)

  A 192.168.1.2, B 192.168.1.3, server S 192.168.1.10 -- lan0 [router] wan0 203.0.113.1 -- gateway 203.0.113.254
  Internet: 198.51.100.7 and .8 (a STUN-like server with two addresses), 198.51.100.9.
"""
import os
import struct

from pcapgen import eth, icmp4, ipv4, tcp4a, udp4, write_pcap

R_LAN = bytes.fromhex("020000000001")
R_WAN = bytes.fromhex("020000000101")
GW = bytes.fromhex("0200000001fe")
MAC = {"192.168.1.2": "020000000002", "192.168.1.3": "020000000003", "192.168.1.10": "02000000000a"}
A, B, S, E = "192.168.1.2", "192.168.1.3", "192.168.1.10", "203.0.113.1"
R1, R2, R3 = "198.51.100.7", "198.51.100.8", "198.51.100.9"

lan, wan = [], []
t = [1_700_000_300_000_000]


def at(side, frame, dt_us=1000):
    t[0] += dt_us
    side.append((t[0], frame))


def from_lan(src, dst, proto, payload):
    return eth(R_LAN, bytes.fromhex(MAC[src]), 0x0800, ipv4(src, dst, proto, payload))


def from_wan(src, dst, proto, payload):
    return eth(R_WAN, GW, 0x0800, ipv4(src, dst, proto, payload))


KEY = bytes([0x6D, 0x5A] * 20)  # the engine's symmetric RSS key


def toeplitz(data):
    """The Toeplitz hash (Microsoft RSS), 32 bits."""
    k = int.from_bytes(KEY, "big")
    klen = len(KEY) * 8
    h = 0
    for i, byte in enumerate(data):
        for b in range(8):
            if byte & (0x80 >> b):
                h ^= (k >> (klen - 32 - (i * 8 + b))) & 0xFFFFFFFF
    return h


def fold(a):
    v = int.from_bytes(bytes(int(x) for x in a.split(".")), "big")
    return (v >> 16) ^ (v & 0xFFFF)


# The external port the router picks for a first mapping (crates/nat
# ports.rs and dynamic.rs, reimplemented): a port p whose return flow hashes
# like the outbound one in the 7 bits the indirection table reads, same
# parity and range as the inside port, the inside port itself when it
# qualifies.
BITS = [toeplitz(b"\0" * 8 + (1 << i).to_bytes(2, "big") + b"\0\0") & 127 for i in range(16)]


def l7(w):
    a = 0
    for i in range(16):
        if w >> i & 1:
            a ^= BITS[i]
    return a


SOL = {}
for _p in range(65536):
    SOL.setdefault(l7(_p), _p)
KERNEL, SPAN = [], {0}
for _p in range(1, 65536):
    if l7(_p) == 0 and _p not in SPAN:
        KERNEL.append(_p)
        SPAN |= {s ^ _p for s in SPAN}


def first_port(inside, x, ext):
    fx, fe = fold(inside), fold(ext)
    if l7(x ^ fx ^ fe) == 0:
        return x
    base = SOL[l7(x ^ fx ^ fe)]
    n = 1 << len(KERNEL)
    start = (x >> 7) % n
    for i in range(n):
        j = (start + i) % n
        p = base
        for k, b in enumerate(KERNEL):
            if j >> k & 1:
                p ^= b
        if p != 0 and (p < 1024) == (x < 1024) and p & 1 == x & 1:
            return p
    raise SystemExit("no port")


PA = first_port(A, 5000, E)    # A:5000 over UDP
PB = first_port(B, 5000, E)    # B:5000 over UDP (a different coset)
PH = first_port(B, 6000, E)    # B:6000 over TCP (the hairpin)
assert PA != PB

# 1. Endpoint-independent mapping: A:5000 to two servers, B:5000 (the same
#    source port) to the first. A keeps one external port for both; B gets
#    another (no overloading).
at(lan, from_lan(A, R1, 17, udp4(A, R1, 5000, 3478, b"A to R1")))
at(lan, from_lan(A, R2, 17, udp4(A, R2, 5000, 3478, b"A to R2")))
at(lan, from_lan(B, R1, 17, udp4(B, R1, 5000, 3478, b"B to R1")))
# 2. The answers come back, to each mapping.
at(wan, from_wan(R1, E, 17, udp4(R1, E, 3478, PA, b"R1 to A")))
at(wan, from_wan(R2, E, 17, udp4(R2, E, 3478, PA, b"R2 to A")))
at(wan, from_wan(R1, E, 17, udp4(R1, E, 3478, PB, b"R1 to B")))
# 3. Filtering (address and port dependent): R2 from another port, R3 never
#    contacted: both dropped (nat-filtered).
at(wan, from_wan(R2, E, 17, udp4(R2, E, 9999, PA, b"R2 other port")))
at(wan, from_wan(R3, E, 17, udp4(R3, E, 3478, PA, b"R3 unsolicited")))
# 4. TCP from A through the NAT and the firewall (A:40000's port is
#    whatever the router picks: the test reads it from what it sent).
at(lan, from_lan(A, R3, 6, tcp4a(A, R3, 40000, 80, 0x02, 100, 0)))
# 5. The port forward: R3 connects to 203.0.113.1:8080, S answers on :80.
at(wan, from_wan(R3, E, 6, tcp4a(R3, E, 5555, 8080, 0x02, 7000, 0)))
at(lan, from_lan(S, R3, 6, tcp4a(S, R3, 80, 5555, 0x12, 9000, 7001)))
# 6. Hairpin: B reaches the server by the public address; S answers B's
#    mapping, which the router turns back to B.
at(lan, from_lan(B, E, 6, tcp4a(B, E, 6000, 8080, 0x02, 300, 0)))
at(lan, from_lan(S, E, 6, tcp4a(S, E, 80, PH, 0x12, 500, 301)))
# 7. ICMP echo from A (identifier 0x77, free, so kept), and its reply.
at(lan, from_lan(A, R1, 1, icmp4(8, 0, struct.pack("!HH", 0x77, 1), b"ping")))
at(wan, from_wan(R1, E, 1, icmp4(0, 0, struct.pack("!HH", 0x77, 1), b"ping")))
# 8. R1 cannot deliver A's datagram after all: an ICMP error quoting it as
#    R1 saw it (from A's mapping).
quoted = ipv4(E, R1, 17, udp4(E, R1, PA, 3478, b"A to R1"), ttl=60)
at(wan, from_wan(R1, E, 1, icmp4(3, 3, b"\0\0\0\0", quoted[:28])))
# 9. Five minutes and a second later R1 answers B again: B's mapping has
#    timed out (UDP 300 s, RFC 4787 REQ-5), so nothing maps the port any
#    more: the datagram is for the router itself, whose input chain drops it.
at(wan, from_wan(R1, E, 17, udp4(R1, E, 3478, PB, b"too late")), dt_us=301_000_000)

here = os.path.dirname(os.path.abspath(__file__))
for name, items in (("home-lan.pcap", lan), ("home-wan.pcap", wan)):
    write_pcap(os.path.join(here, name), [fr for _, fr in items], times=[ts for ts, _ in items])
    print(f"wrote {name}: {len(items)} frames")
print(f"A:5000 -> {E}:{PA}, B:5000 -> {E}:{PB}, B:6000/tcp -> {E}:{PH}")
