"""Frame builders for the example captures (standard library only)."""
import struct

ROUTER = bytes.fromhex("020000000001")
HOST = bytes.fromhex("020000000002")
BCAST = b"\xff" * 6


def csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ip4(a: str) -> bytes:
    return bytes(int(x) for x in a.split("."))


def ip6(a: str) -> bytes:
    import ipaddress
    return ipaddress.IPv6Address(a).packed


def eth(dst, src, etype, payload, vlan=None):
    hdr = dst + src
    if vlan is not None:
        hdr += struct.pack("!HH", 0x8100, vlan)
    return hdr + struct.pack("!H", etype) + payload


def ipv4(src, dst, proto, payload, ttl=64, ident=1, df=True, tos=0, ihl_override=None):
    ver_ihl = 0x45 if ihl_override is None else (0x40 | ihl_override)
    flags = 0x4000 if df else 0
    h = struct.pack("!BBHHHBBH4s4s", ver_ihl, tos, 20 + len(payload), ident, flags, ttl, proto, 0, ip4(src), ip4(dst))
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + payload


def l4_csum_v4(src, dst, proto, seg):
    pseudo = ip4(src) + ip4(dst) + struct.pack("!BBH", 0, proto, len(seg))
    return csum(pseudo + seg)


def udp4(src, dst, sport, dport, data):
    seg = struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data
    c = l4_csum_v4(src, dst, 17, seg) or 0xFFFF
    return seg[:6] + struct.pack("!H", c) + seg[8:]


def tcp4(src, dst, sport, dport, flags, seq=1000, data=b""):
    seg = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 5 << 4, flags, 65535, 0, 0) + data
    c = l4_csum_v4(src, dst, 6, seg)
    return seg[:16] + struct.pack("!H", c) + seg[18:]


def icmp4(t, code, rest, data):
    m = struct.pack("!BBH", t, code, 0) + rest + data
    return m[:2] + struct.pack("!H", csum(m)) + m[4:]


def ipv6(src, dst, nh, payload, hlim=64):
    return struct.pack("!IHBB", 0x60000000, len(payload), nh, hlim) + ip6(src) + ip6(dst) + payload


def icmp6(src, dst, t, code, body):
    m = struct.pack("!BBH", t, code, 0) + body
    pseudo = ip6(src) + ip6(dst) + struct.pack("!IxxxB", len(m), 58)
    return m[:2] + struct.pack("!H", csum(pseudo + m)) + m[4:]


def arp(op, sha, spa, tha, tpa):
    return struct.pack("!HHBBH", 1, 0x0800, 6, 4, op) + sha + ip4(spa) + tha + ip4(tpa)


def write_pcap(path, frames, t0_us=1_700_000_000_000_000, step_us=1000, times=None):
    """Write Ethernet frames (padded to 60 bytes) as a pcap, microsecond
    timestamps t0 + i * step (or the given times, in microseconds)."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, fr in enumerate(frames):
            if len(fr) < 60:
                fr = fr + b"\0" * (60 - len(fr))
            ts_us = times[i] if times is not None else t0_us + i * step_us
            f.write(struct.pack("<IIII", ts_us // 1_000_000, ts_us % 1_000_000, len(fr), len(fr)))
            f.write(fr)


def tcp4a(src, dst, sport, dport, flags, seq, ack, data=b"", window=65535):
    """A TCP segment with an acknowledgment number (tcp4's is 0)."""
    seg = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, window, 0, 0) + data
    c = l4_csum_v4(src, dst, 6, seg)
    return seg[:16] + struct.pack("!H", c) + seg[18:]
