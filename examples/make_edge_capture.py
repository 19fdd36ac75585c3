#!/usr/bin/env python3
"""Write examples/edge-lan.pcap and examples/edge-wan.pcap: both sides of
the router of examples/edge-firewall.toml, one timeline, every rule of the
edge policy exercised. Standard library only, fixed timestamps:
`python3 examples/make_edge_capture.py` rebuilds them byte for byte.

  LAN host 10.0.0.2 (02:00:00:00:00:02) -- lan0 10.0.0.1 [router] wan0 192.0.2.1 -- gateway 192.0.2.254 (02:00:00:00:01:fe)
  Internet servers 198.51.100.0/24 behind the gateway; 203.0.113.66 is on the blocklist.
"""
import os
import struct

from pcapgen import BCAST, HOST, ROUTER, arp, eth, icmp4, ipv4, tcp4a, udp4, write_pcap

WAN_R = bytes.fromhex("020000000101")  # the router's wan0
GW = bytes.fromhex("0200000001fe")     # the upstream gateway
H, R_LAN, R_WAN = "10.0.0.2", "10.0.0.1", "192.0.2.1"
WEB, DNS, ECHO7, PEER, BAD = "198.51.100.7", "198.51.100.53", "198.51.100.99", "198.51.100.9", "203.0.113.66"

lan, wan = [], []
t = [1_700_000_100_000_000]


def at(side, frame, dt_us=1000):
    t[0] += dt_us
    side.append((t[0], frame))


def from_lan(dst, proto, payload, **kw):
    return eth(ROUTER, HOST, 0x0800, ipv4(H, dst, proto, payload, **kw))


def from_wan(src, dst, proto, payload, **kw):
    return eth(WAN_R, GW, 0x0800, ipv4(src, dst, proto, payload, **kw))


# The host announces itself (the router learns 10.0.0.2 from its request).
at(lan, eth(BCAST, HOST, 0x0806, arp(1, HOST, H, b"\0" * 6, R_LAN) + b"\0" * 18))
# 1. LAN to WAN: a whole TCP connection (new, then established both ways).
c, s = 1000, 7000
at(lan, from_lan(WEB, 6, tcp4a(H, WEB, 40000, 80, 0x02, c, 0)))
at(wan, from_wan(WEB, H, 6, tcp4a(WEB, H, 80, 40000, 0x12, s, c + 1)))
at(lan, from_lan(WEB, 6, tcp4a(H, WEB, 40000, 80, 0x10, c + 1, s + 1)))
req = b"GET / HTTP/1.1\r\nHost: example\r\n\r\n"
at(lan, from_lan(WEB, 6, tcp4a(H, WEB, 40000, 80, 0x18, c + 1, s + 1, req)))
resp = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
at(wan, from_wan(WEB, H, 6, tcp4a(WEB, H, 80, 40000, 0x18, s + 1, c + 1 + len(req), resp)))
at(wan, from_wan(WEB, H, 6, tcp4a(WEB, H, 80, 40000, 0x11, s + 1 + len(resp), c + 1 + len(req))))
at(lan, from_lan(WEB, 6, tcp4a(H, WEB, 40000, 80, 0x11, c + 1 + len(req), s + 2 + len(resp))))
at(wan, from_wan(WEB, H, 6, tcp4a(WEB, H, 80, 40000, 0x10, s + 2 + len(resp), c + 2 + len(req))))
# 2. WAN to LAN, unsolicited: SSH is rejected with a reset, UDP dropped.
at(wan, from_wan(PEER, H, 6, tcp4a(PEER, H, 5555, 22, 0x02, 1, 0)))
at(wan, from_wan(PEER, H, 17, udp4(PEER, H, 5556, 53, b"probe")))
# 3. DNS from the LAN, and its answer (established).
q = b"\x12\x34\x01\x00\x00\x01" + b"\0" * 6 + b"\x07example\x03com\x00\x00\x01\x00\x01"
at(lan, from_lan(DNS, 17, udp4(H, DNS, 5353, 53, q)))
at(wan, from_wan(DNS, H, 17, udp4(DNS, H, 53, 5353, q[:2] + b"\x81\x80" + q[4:])))
# 4. A UDP probe whose port is closed: the ICMP error comes back (related).
probe = ipv4(H, ECHO7, 17, udp4(H, ECHO7, 6000, 7, b"anyone?"))
at(lan, eth(ROUTER, HOST, 0x0800, probe))
quoted = ipv4(H, ECHO7, 17, udp4(H, ECHO7, 6000, 7, b"anyone?"), ttl=63)
at(wan, from_wan(ECHO7, H, 1, icmp4(3, 3, b"\0\0\0\0", quoted[:28])))
# 5. To the router from the WAN: echo is allowed, SSH is not.
at(wan, from_wan(PEER, R_WAN, 1, icmp4(8, 0, struct.pack("!HH", 0x99, 1), b"edge-ping")))
at(wan, from_wan(PEER, R_WAN, 6, tcp4a(PEER, R_WAN, 5557, 22, 0x02, 1, 0)))
# 6. A blocklisted source.
at(wan, from_wan(BAD, H, 17, udp4(BAD, H, 9999, 9999, b"spam")))
# 7. Invalid: a SYN/ACK for no connection, and a segment far out of the
#    closed connection's window.
at(wan, from_wan(PEER, H, 6, tcp4a(PEER, H, 443, 41000, 0x12, 1, 1)))
at(wan, from_wan(WEB, H, 6, tcp4a(WEB, H, 80, 40000, 0x10, s + 0x40000000, c + 2 + len(req))))
# 8. A flood of pings at the router: 10/second with a burst of 5 pass.
for i in range(15):
    at(wan, from_wan(PEER, R_WAN, 1, icmp4(8, 0, struct.pack("!HH", 0x98, i), b"flood")), dt_us=100)
# 9. LAN to the router: allowed by the input chain (nothing listens on UDP
#    9, so it answers port unreachable).
at(lan, from_lan(R_LAN, 17, udp4(H, R_LAN, 7000, 9, b"hi router")))

here = os.path.dirname(os.path.abspath(__file__))


for name, items in (("edge-lan.pcap", lan), ("edge-wan.pcap", wan)):
    write_pcap(os.path.join(here, name), [fr for _, fr in items], times=[ts for ts, _ in items])
    print(f"wrote {name}: {len(items)} frames")
