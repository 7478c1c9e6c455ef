#!/usr/bin/env python3
"""bench/wirelat.py PCAP [PORT]
   bench/wirelat.py --hops PCAP [CALLER_PORT PROXY_PORT CALLEE_PORT]

INVITE -> 200 latency of each call as the caller's socket saw it, from a
capture on the loopback (wirecap in compare.sh): the time between the
first INVITE the caller (UDP PORT, default 5070) sent and the first 200
to that INVITE it received, per Call-ID, with the kernel's microsecond
timestamps. SIPp's own figure (cps.sh's p50_ms/p99_ms) comes from its
clock, which on these machines advances in steps of 4 ms: most calls
read 0 and the rest 4, so two servers whose p99 is 0.3 and 3 ms both
read 4.

Prints one line: "wire_calls=N wire_p50_ms=X wire_p99_ms=Y wire_max_ms=Z"
(milliseconds, three decimals), or "wire_calls=0" when nothing matched.

With --hops, from a capture of everything on the proxy's port (tcpdump
-i lo -w PCAP udp port 5060), splits each call's INVITE -> 200 into its
hops (ports default to the harness's: 5070, 5060, 5090): the proxy's
relay of the INVITE, of the 180 and of the 200, and the callee's time
from the INVITE to its 180 and 200; p50/p90/p99 of each, one line each.
Reads classic pcap (what tcpdump -w writes) with Ethernet, Linux cooked
(v1, v2) or raw IPv4 framing; IPv4 and UDP only. Standard library only.
"""
import struct
import sys


def frames(path):
    """Yields (seconds, payload-of-the-link-layer) from a pcap file."""
    with open(path, "rb") as f:
        head = f.read(24)
        if len(head) < 24:
            return
        magic = struct.unpack("<I", head[:4])[0]
        if magic in (0xA1B2C3D4, 0xA1B23C4D):
            end = "<"
        elif magic in (0xD4C3B2A1, 0x4D3CB2A1):
            end = ">"
            magic = struct.unpack(">I", head[:4])[0]
        else:
            raise SystemExit("wirelat: %s is not a pcap file" % path)
        scale = 1e-9 if magic == 0xA1B23C4D else 1e-6
        link = struct.unpack(end + "I", head[20:24])[0]
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                return
            sec, frac, incl, _ = struct.unpack(end + "IIII", rec)
            data = f.read(incl)
            if len(data) < incl:
                return
            yield sec + frac * scale, link, data


def udp_payload(link, data):
    """Returns (src_port, dst_port, payload) of an IPv4 UDP frame, or None."""
    off = {1: 14, 113: 16, 276: 20, 101: 0, 228: 0}.get(link)
    if off is None:
        return None
    if link == 1 and data[12:14] != b"\x08\x00":
        return None
    ip = data[off:]
    if len(ip) < 28 or ip[0] >> 4 != 4 or ip[9] != 17:
        return None
    ihl = (ip[0] & 0x0F) * 4
    udp = ip[ihl:]
    if len(udp) < 8:
        return None
    sport, dport = struct.unpack(">HH", udp[:4])
    return sport, dport, udp[8:]


def header(msg, long_name, compact):
    """The value of the first header named long_name (or its compact form)."""
    for line in msg.split(b"\n")[1:]:
        line = line.rstrip(b"\r")
        if not line:
            break
        name, sep, value = line.partition(b":")
        if not sep:
            continue
        name = name.strip().lower()
        if name == long_name or (compact and name == compact):
            return value.strip()
    return None


def invite_messages(path):
    """Yields (seconds, src_port, dst_port, kind, call_id) for each message of
    an INVITE transaction in the capture: kind is "INVITE" or the status
    code ("100", "180", "200", ...)."""
    for ts, link, data in frames(path):
        p = udp_payload(link, data)
        if p is None:
            continue
        sport, dport, msg = p
        cseq = header(msg, b"cseq", None)
        if cseq is None or not cseq.upper().endswith(b"INVITE"):
            continue
        if msg.startswith(b"INVITE "):
            kind = "INVITE"
        elif msg.startswith(b"SIP/2.0 ") and len(msg) >= 11:
            kind = msg[8:11].decode("ascii", "replace")
        else:
            continue
        cid = header(msg, b"call-id", b"i")
        if cid is not None:
            yield ts, sport, dport, kind, cid


def rank(v, q):
    """The q-th percentile of the sorted seconds v, in ms, by the nearest-rank
    rule of the harness's rtt_percentiles."""
    i = max(1, -(-len(v) * q // 100))
    return v[int(i) - 1] * 1000


def latencies(path, port):
    """Sorted INVITE -> 200 times, in seconds, of the calls the caller on
    port made."""
    sent = {}
    answered = {}
    for ts, sport, dport, kind, cid in invite_messages(path):
        if kind == "INVITE" and sport == port:
            sent.setdefault(cid, ts)
        elif kind == "200" and dport == port:
            answered.setdefault(cid, ts)
    return sorted(answered[c] - sent[c] for c in answered if c in sent and answered[c] >= sent[c])


def hops(path, caller, proxy, callee):
    """Prints, per hop of an INVITE -> 200, p50/p90/p99 over the calls."""
    seen = {}  # call-id -> {(kind, src_port, dst_port): first seconds}
    for ts, sport, dport, kind, cid in invite_messages(path):
        seen.setdefault(cid, {}).setdefault((kind, sport, dport), ts)
    spans = [
        ("proxy relays the INVITE", ("INVITE", caller, proxy), ("INVITE", proxy, callee)),
        ("callee INVITE -> 180", ("INVITE", proxy, callee), ("180", callee, proxy)),
        ("proxy relays the 180", ("180", callee, proxy), ("180", proxy, caller)),
        ("callee INVITE -> 200", ("INVITE", proxy, callee), ("200", callee, proxy)),
        ("proxy relays the 200", ("200", callee, proxy), ("200", proxy, caller)),
        ("caller INVITE -> 200", ("INVITE", caller, proxy), ("200", proxy, caller)),
    ]
    for name, a, b in spans:
        v = sorted(d[b] - d[a] for d in seen.values() if a in d and b in d and d[b] >= d[a])
        if not v:
            print("%-24s n=0" % name)
            continue
        print("%-24s n=%d p50=%.3f p90=%.3f p99=%.3f ms" % (name, len(v), rank(v, 50), rank(v, 90), rank(v, 99)))


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "--hops":
        ports = [int(a) for a in sys.argv[3:6]] + [5070, 5060, 5090][len(sys.argv[3:6]):]
        hops(sys.argv[2], *ports)
        return
    if len(sys.argv) < 2:
        raise SystemExit("usage: wirelat.py PCAP [PORT] | wirelat.py --hops PCAP [CALLER PROXY CALLEE]")
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 5070
    v = latencies(sys.argv[1], port)
    if not v:
        print("wire_calls=0")
        return
    print("wire_calls=%d wire_p50_ms=%.3f wire_p99_ms=%.3f wire_max_ms=%.3f" % (len(v), rank(v, 50), rank(v, 99), v[-1] * 1000))


if __name__ == "__main__":
    main()
