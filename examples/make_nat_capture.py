#!/usr/bin/env python3
"""Write the captures of examples/static-nat.toml: what arrives on each side
(static-nat-lan.pcap, static-nat-wan.pcap) and what the router must send
(static-nat-expect-lan.pcap, static-nat-expect-wan.pcap), the second pair
computed here from scratch (full checksums, this file's own NPTv6), so the
replay test holds the router's incremental rewrites to an independent
answer. Standard library only, fixed timestamps:
`python3 examples/make_nat_capture.py` rebuilds them byte for byte.

  server 192.168.1.10 (1:1 as 203.0.113.10)    \\
  hosts 192.168.2.0/25 (as 203.0.113.128/25)    -- lan0 [router] wan0 192.0.2.1 -- gateway 192.0.2.254
  v6 host fd01:203:405:1::10 (NPTv6 fd01:203:405::/48 as 2001:db8:1::/48)
  Internet: 198.51.100.0/24, 2001:db8:beef::/48, behind the gateway.
"""
import ipaddress
import os
import struct

from pcapgen import csum, eth, icmp4, icmp6, ip4, ipv6, tcp4a, udp4, write_pcap

R_LAN = bytes.fromhex("020000000001")  # the router's lan0
R_WAN = bytes.fromhex("020000000101")  # the router's wan0
GW = bytes.fromhex("0200000001fe")     # the upstream gateway
MAC = {
    "192.168.1.10": bytes.fromhex("02000000000a"),
    "192.168.2.5": bytes.fromhex("020000000005"),
    "192.168.2.33": bytes.fromhex("020000000021"),
    "fd01:203:405:1::10": bytes.fromhex("020000000010"),
    "fd01:203:405:ffff::7": bytes.fromhex("020000000017"),
}
SRV, SRV_OUT = "192.168.1.10", "203.0.113.10"
WEB, DNS, PEER = "198.51.100.7", "198.51.100.53", "198.51.100.9"
V6H, V6WEB = "fd01:203:405:1::10", "2001:db8:beef::7"
OUTSIDE6 = ipaddress.IPv6Network("2001:db8:1::/48")  # of fd01:203:405::/48


def out4(a):
    """The outside address of an inside IPv4 host (None: not translated)."""
    if a == SRV:
        return SRV_OUT
    n = ipaddress.IPv4Address(a)
    if n in ipaddress.IPv4Network("192.168.2.0/25"):
        return str(ipaddress.IPv4Address("203.0.113.128") + (int(n) & 0x7F))
    return None


def fold(x):
    while x >> 16:
        x = (x & 0xFFFF) + (x >> 16)
    return x


def npt(a, to):
    """RFC 6296 §3.2 for a /48: swap the prefix, fix the subnet word so the
    one's-complement sum is unchanged; None if that word is 0xFFFF."""
    w = list(struct.unpack("!8H", ipaddress.IPv6Address(a).packed))
    if w[3] == 0xFFFF:
        return None
    old = fold(sum(w))
    w[0:3] = struct.unpack("!3H", to.network_address.packed[:6])
    new = fold(sum(w))
    x = fold(w[3] + old + (~new & 0xFFFF))
    w[3] = 0 if x == 0xFFFF else x
    return str(ipaddress.IPv6Address(struct.pack("!8H", *w)))


def v4(src, dst, proto, payload, ttl=64, ident=1, frag=0x4000):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, frag, ttl, proto, 0, ip4(src), ip4(dst))
    return h[:10] + struct.pack("!H", csum(h)) + h[12:] + payload


def udp0(sport, dport, data):
    """UDP without a checksum (0: none, RFC 768)."""
    return struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data


def icmp6echo(src, dst, t, ident, seq, data):
    return icmp6(src, dst, t, 0, struct.pack("!HH", ident, seq) + data)


lan_in, wan_in, lan_out, wan_out = [], [], [], []
t = [1_700_000_200_000_000]


def step(side, frame, expect=None, expect_side=None):
    t[0] += 1000
    side.append((t[0], frame))
    if expect is not None:
        expect_side.append((t[0], expect))


def to_wan(ip_packet):
    return eth(GW, R_WAN, 0x0800, ip_packet)


def to_lan(dst, ip_packet, etype=0x0800):
    return eth(MAC[dst], R_LAN, etype, ip_packet)


# 1. The server opens TCP to the web: leaves as 203.0.113.10 (1:1), the
#    answer comes back to 192.168.1.10.
c, s = 5000, 9000
step(lan_in, eth(R_LAN, MAC[SRV], 0x0800, v4(SRV, WEB, 6, tcp4a(SRV, WEB, 41000, 80, 0x02, c, 0))),
     to_wan(v4(SRV_OUT, WEB, 6, tcp4a(SRV_OUT, WEB, 41000, 80, 0x02, c, 0), ttl=63)), wan_out)
step(wan_in, eth(R_WAN, GW, 0x0800, v4(WEB, SRV_OUT, 6, tcp4a(WEB, SRV_OUT, 80, 41000, 0x12, s, c + 1))),
     to_lan(SRV, v4(WEB, SRV, 6, tcp4a(WEB, SRV, 80, 41000, 0x12, s, c + 1), ttl=63)), lan_out)
# 2. A host of the prefix asks DNS: 192.168.2.33 leaves as 203.0.113.161.
q = b"\x43\x21\x01\x00\x00\x01" + b"\0" * 6 + b"\x07example\x03org\x00\x00\x01\x00\x01"
H2, H2_OUT = "192.168.2.33", out4("192.168.2.33")
step(lan_in, eth(R_LAN, MAC[H2], 0x0800, v4(H2, DNS, 17, udp4(H2, DNS, 5353, 53, q))),
     to_wan(v4(H2_OUT, DNS, 17, udp4(H2_OUT, DNS, 5353, 53, q), ttl=63)), wan_out)
step(wan_in, eth(R_WAN, GW, 0x0800, v4(DNS, H2_OUT, 17, udp4(DNS, H2_OUT, 53, 5353, q))),
     to_lan(H2, v4(DNS, H2, 17, udp4(DNS, H2, 53, 5353, q), ttl=63)), lan_out)
# 3. UDP without a checksum keeps none.
step(lan_in, eth(R_LAN, MAC[SRV], 0x0800, v4(SRV, PEER, 17, udp0(7000, 7001, b"no checksum"))),
     to_wan(v4(SRV_OUT, PEER, 17, udp0(7000, 7001, b"no checksum"), ttl=63)), wan_out)
# 4. An ICMP error from the Internet about the server's packet: the quoted
#    header is translated back (RFC 5508 §4.2), every checksum right.
probe_out = v4(SRV_OUT, PEER, 17, udp4(SRV_OUT, PEER, 7002, 9, b"anyone?"), ttl=63)
probe_in = v4(SRV, PEER, 17, udp4(SRV, PEER, 7002, 9, b"anyone?"), ttl=63)
step(wan_in, eth(R_WAN, GW, 0x0800, v4(PEER, SRV_OUT, 1, icmp4(3, 3, b"\0\0\0\0", probe_out[:28]))),
     to_lan(SRV, v4(PEER, SRV, 1, icmp4(3, 3, b"\0\0\0\0", probe_in[:28]), ttl=63)), lan_out)
# 5. The server's own ICMP error about a packet from outside: its source and
#    the quoted destination leave translated.
inb = v4(PEER, SRV, 17, udp4(PEER, SRV, 7003, 9, b"knock"), ttl=63)
inb_out = v4(PEER, SRV_OUT, 17, udp4(PEER, SRV_OUT, 7003, 9, b"knock"), ttl=63)
step(lan_in, eth(R_LAN, MAC[SRV], 0x0800, v4(SRV, PEER, 1, icmp4(3, 3, b"\0\0\0\0", inb[:28]))),
     to_wan(v4(SRV_OUT, PEER, 1, icmp4(3, 3, b"\0\0\0\0", inb_out[:28]), ttl=63)), wan_out)
# 6. Hairpin (RFC 4787 REQ-9): 192.168.2.5 reaches the server by its
#    outside address and is seen from its own outside address; the answer
#    hairpins back.
H3, H3_OUT = "192.168.2.5", out4("192.168.2.5")
step(lan_in, eth(R_LAN, MAC[H3], 0x0800, v4(H3, SRV_OUT, 6, tcp4a(H3, SRV_OUT, 42000, 443, 0x02, 1, 0))),
     to_lan(SRV, v4(H3_OUT, SRV, 6, tcp4a(H3_OUT, SRV, 42000, 443, 0x02, 1, 0), ttl=63)), lan_out)
step(lan_in, eth(R_LAN, MAC[SRV], 0x0800, v4(SRV, H3_OUT, 6, tcp4a(SRV, H3_OUT, 443, 42000, 0x12, 7, 2))),
     to_lan(H3, v4(SRV_OUT, H3, 6, tcp4a(SRV_OUT, H3, 443, 42000, 0x12, 7, 2), ttl=63)), lan_out)
# 7. A fragmented UDP datagram from the server: both fragments leave
#    translated; only the first carries the UDP checksum to fix.
data = bytes(range(256)) * 2
dgram = udp4(SRV, PEER, 7004, 5000, data)
dgram_out = udp4(SRV_OUT, PEER, 7004, 5000, data)
for off, more in ((0, True), (264, False)):
    flags = (0x2000 if more else 0) | (off // 8)
    chunk, chunk_out = dgram[off:off + 264], dgram_out[off:off + 264]
    step(lan_in, eth(R_LAN, MAC[SRV], 0x0800, v4(SRV, PEER, 17, chunk, ident=77, frag=flags)),
         to_wan(v4(SRV_OUT, PEER, 17, chunk_out, ttl=63, ident=77, frag=flags)), wan_out)
# 8. NPTv6 (RFC 6296): the v6 host pings the web; checksum-neutral, so the
#    ICMPv6 checksum is the same on both sides.
V6H_OUT = npt(V6H, OUTSIDE6)
echo = icmp6echo(V6H, V6WEB, 128, 0x66, 1, b"npt")
echo_out = icmp6echo(V6H_OUT, V6WEB, 128, 0x66, 1, b"npt")
assert echo[2:4] == echo_out[2:4], "NPTv6 must be checksum-neutral"
step(lan_in, eth(R_LAN, MAC[V6H], 0x86DD, ipv6(V6H, V6WEB, 58, echo)),
     eth(GW, R_WAN, 0x86DD, ipv6(V6H_OUT, V6WEB, 58, echo_out, hlim=63)), wan_out)
rep = icmp6echo(V6WEB, V6H_OUT, 129, 0x66, 1, b"npt")
step(wan_in, eth(R_WAN, GW, 0x86DD, ipv6(V6WEB, V6H_OUT, 58, rep)),
     to_lan(V6H, ipv6(V6WEB, V6H, 58, icmp6echo(V6WEB, V6H, 129, 0x66, 1, b"npt"), hlim=63), 0x86DD), lan_out)
# 9. A subnet word of 0xFFFF cannot be translated (RFC 6296 §3.4): dropped,
#    counted as nat-untranslatable.
BAD6 = "fd01:203:405:ffff::7"
assert npt(BAD6, OUTSIDE6) is None
step(lan_in, eth(R_LAN, MAC[BAD6], 0x86DD, ipv6(BAD6, V6WEB, 58, icmp6echo(BAD6, V6WEB, 128, 0x67, 1, b"x"))))

here = os.path.dirname(os.path.abspath(__file__))
for name, items in (
    ("static-nat-lan.pcap", lan_in),
    ("static-nat-wan.pcap", wan_in),
    ("static-nat-expect-lan.pcap", lan_out),
    ("static-nat-expect-wan.pcap", wan_out),
):
    write_pcap(os.path.join(here, name), [fr for _, fr in items], times=[ts for ts, _ in items])
    print(f"wrote {name}: {len(items)} frames")
