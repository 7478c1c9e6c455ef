#!/usr/bin/env python3
"""Tests of wirelat.py on a capture built here: python3 bench/wirelat_test.py"""
import os
import struct
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wirelat  # noqa: E402


def frame(sport, dport, payload):
    """An Ethernet/IPv4/UDP frame on the loopback."""
    udp = struct.pack(">HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, b"\x7f\0\0\1", b"\x7f\0\0\1")
    return b"\0" * 12 + b"\x08\x00" + ip + udp


def pcap(path, packets):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for ts, data in packets:
            sec = int(ts)
            f.write(struct.pack("<IIII", sec, round((ts - sec) * 1e6), len(data), len(data)))
            f.write(data)


def msg(first, cid, cseq):
    return ("%s\r\nVia: SIP/2.0/UDP 127.0.0.1:5070\r\ni: %s\r\nCSeq: %s\r\n\r\n" % (first, cid, cseq)).encode()


class WireLat(unittest.TestCase):
    def capture(self, packets):
        fd, path = tempfile.mkstemp(suffix=".pcap")
        os.close(fd)
        self.addCleanup(os.remove, path)
        pcap(path, packets)
        return path

    def test_latencies(self):
        inv = "INVITE sip:5002@127.0.0.1 SIP/2.0"
        path = self.capture([
            (10.000, frame(5070, 5060, msg(inv, "a", "1 INVITE"))),
            (10.001, frame(5060, 5090, msg(inv, "a", "1 INVITE"))),  # relayed: another port
            (10.002, frame(5060, 5070, msg("SIP/2.0 180 Ringing", "a", "1 INVITE"))),
            (10.003, frame(5060, 5070, msg("SIP/2.0 200 OK", "a", "1 INVITE"))),
            (10.010, frame(5060, 5070, msg("SIP/2.0 200 OK", "a", "1 INVITE"))),  # retransmitted
            (11.000, frame(5070, 5060, msg(inv, "b", "1 INVITE"))),
            (11.500, frame(5070, 5060, msg(inv, "b", "1 INVITE"))),  # retransmitted: the first counts
            (11.700, frame(5060, 5070, msg("SIP/2.0 200 OK", "b", "1 INVITE"))),
            (12.000, frame(5060, 5070, msg("SIP/2.0 200 OK", "b", "2 BYE"))),  # the BYE's 200
            (13.000, frame(5070, 5060, msg(inv, "c", "1 INVITE"))),  # never answered
            (14.000, frame(5060, 5070, msg("SIP/2.0 200 OK", "d", "1 INVITE"))),  # its INVITE not captured
        ])
        v = wirelat.latencies(path, 5070)
        self.assertEqual([round(x * 1000) for x in v], [3, 700])
        self.assertAlmostEqual(wirelat.rank(v, 50), 3, places=3)
        self.assertAlmostEqual(wirelat.rank(v, 99), 700, places=3)

    def test_not_udp_or_not_sip(self):
        path = self.capture([
            (1.0, b"\0" * 12 + b"\x86\xdd" + b"\0" * 60),  # IPv6
            (1.1, frame(5070, 5060, b"\r\n\r\n")),  # a keep-alive
            (1.2, frame(5070, 5060, b"\x16\x03\x01 garbage")),
        ])
        self.assertEqual(wirelat.latencies(path, 5070), [])

    def test_not_a_pcap(self):
        fd, path = tempfile.mkstemp()
        os.write(fd, b"this is not a capture at all")
        os.close(fd)
        self.addCleanup(os.remove, path)
        with self.assertRaises(SystemExit):
            wirelat.latencies(path, 5070)


if __name__ == "__main__":
    unittest.main()
