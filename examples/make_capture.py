#!/usr/bin/env python3
"""Write examples/lan.pcap: what a small router sees on its LAN port.

Standard library only, deterministic (fixed timestamps), so the file can be
rebuilt byte for byte: `python3 examples/make_capture.py`.

Topology (matches examples/router.conf):
  LAN  10.0.0.0/24, 2001:db8:0::/64  router lan0 10.0.0.1 / 2001:db8::1, 02:00:00:00:00:01
       host 10.0.0.2 / 2001:db8::2, 02:00:00:00:00:02
  WAN  192.0.2.0/24, 2001:db8:1::/64 router wan0 192.0.2.1, gateway 192.0.2.254
"""
import os
import struct

from pcapgen import *  # noqa: F401,F403 (the builders)


frames = []
lan_h, lan_r = "10.0.0.2", "10.0.0.1"
# 1. The host resolves its gateway.
frames.append(eth(BCAST, HOST, 0x0806, arp(1, HOST, lan_h, b"\0" * 6, lan_r) + b"\0" * 18))
# 2. It pings the router.
frames.append(eth(ROUTER, HOST, 0x0800, ipv4(lan_h, lan_r, 1, icmp4(8, 0, struct.pack("!HH", 0x77, 1), b"orbital-ping-data"))))
# 3-5. A TCP handshake start, DNS, and an HTTPS flow to the Internet (forwarded).
frames.append(eth(ROUTER, HOST, 0x0800, ipv4(lan_h, "198.51.100.10", 6, tcp4(lan_h, "198.51.100.10", 40000, 443, 0x02))))
frames.append(eth(ROUTER, HOST, 0x0800, ipv4(lan_h, "192.0.2.53", 17, udp4(lan_h, "192.0.2.53", 53000, 53, b"\x12\x34\x01\x00\x00\x01" + b"\0" * 6 + b"\x07example\x03com\x00\x00\x01\x00\x01"))))
frames.append(eth(ROUTER, HOST, 0x0800, ipv4(lan_h, "203.0.113.7", 6, tcp4(lan_h, "203.0.113.7", 40001, 443, 0x18, data=b"GET / HTTP/1.1\r\n\r\n"))))
# 6. A traceroute probe with TTL 1: the router answers Time Exceeded.
frames.append(eth(ROUTER, HOST, 0x0800, ipv4(lan_h, "198.51.100.10", 17, udp4(lan_h, "198.51.100.10", 33434, 33434, b"probe"), ttl=1)))
# 7. Nowhere to go (no route for 100.64.0.0/10 in the example config).
frames.append(eth(ROUTER, HOST, 0x0800, ipv4(lan_h, "100.64.1.1", 17, udp4(lan_h, "100.64.1.1", 5000, 5000, b"x"))))
# 8. A 1400-byte DF packet towards the 1280-MTU WAN: Fragmentation Needed.
frames.append(eth(ROUTER, HOST, 0x0800, ipv4(lan_h, "198.51.100.10", 17, udp4(lan_h, "198.51.100.10", 5001, 5001, b"D" * 1372), ident=8)))
# 9. The same size without DF: fragmented by the router.
frames.append(eth(ROUTER, HOST, 0x0800, ipv4(lan_h, "198.51.100.10", 17, udp4(lan_h, "198.51.100.10", 5002, 5002, b"F" * 1372), ident=9, df=False)))
# 10. A martian source (127.0.0.1): never forwarded.
frames.append(eth(ROUTER, HOST, 0x0800, ipv4("127.0.0.1", "198.51.100.10", 17, udp4("127.0.0.1", "198.51.100.10", 1, 1, b"m"))))
# 11. A malformed header (IHL 4): dropped by the parser.
frames.append(eth(ROUTER, HOST, 0x0800, ipv4(lan_h, "198.51.100.10", 17, udp4(lan_h, "198.51.100.10", 1, 1, b"bad"), ihl_override=4)))
# 12. A VLAN-tagged frame on the access port: not ours.
frames.append(eth(ROUTER, HOST, 0x0800, ipv4(lan_h, "198.51.100.10", 17, udp4(lan_h, "198.51.100.10", 7, 7, b"tagged")), vlan=42))
# 13-15. IPv6: neighbour solicitation for the router, echo to the router, a forwarded flow.
h6, r6 = "2001:db8::2", "2001:db8::1"
sn = "ff02::1:ff00:1"
ns_body = struct.pack("!I", 0) + ip6(r6) + bytes([1, 1]) + HOST
frames.append(eth(bytes.fromhex("3333ff000001"), HOST, 0x86DD, ipv6(h6, sn, 58, icmp6(h6, sn, 135, 0, ns_body), hlim=255)))
frames.append(eth(ROUTER, HOST, 0x86DD, ipv6(h6, r6, 58, icmp6(h6, r6, 128, 0, struct.pack("!HH", 0x66, 1) + b"orbital6"))))
udp6_payload = b"hello v6"
seg = struct.pack("!HHHH", 41000, 443, 8 + len(udp6_payload), 0) + udp6_payload
pseudo = ip6(h6) + ip6("2001:db8:ffff::10") + struct.pack("!IxxxB", len(seg), 17)
seg = seg[:6] + struct.pack("!H", csum(pseudo + seg) or 0xFFFF) + seg[8:]
frames.append(eth(ROUTER, HOST, 0x86DD, ipv6(h6, "2001:db8:ffff::10", 17, seg)))
# 16. IPv6 hop limit 1: Time Exceeded (ICMPv6).
frames.append(eth(ROUTER, HOST, 0x86DD, ipv6(h6, "2001:db8:ffff::10", 17, seg, hlim=1)))

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lan.pcap")
write_pcap(out, frames)
print(f"wrote {out}: {len(frames)} frames")
