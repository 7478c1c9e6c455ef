package sip

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// HEP v3, the Homer Encapsulation Protocol that OpenSIPS's proto_hep,
// Kamailio's siptrace and HOMER's collectors speak: a packet is "HEP3", its
// total length (uint16, big-endian, header included), then chunks, each
// vendor (uint16), type (uint16), length (uint16, its 6 header bytes
// included) and data. Every chunk here is generic (vendor 0).

// HEP chunk types (vendor 0), as the HEP v3 specification and HOMER number
// them.
const (
	HEPChunkFamily      = 0x0001 // IP family: 2 (IPv4) or 10 (IPv6), uint8
	HEPChunkProtocol    = 0x0002 // IP protocol: 17 (UDP), 6 (TCP), uint8
	HEPChunkSrcIPv4     = 0x0003 // 4 bytes
	HEPChunkDstIPv4     = 0x0004 // 4 bytes
	HEPChunkSrcIPv6     = 0x0005 // 16 bytes
	HEPChunkDstIPv6     = 0x0006 // 16 bytes
	HEPChunkSrcPort     = 0x0007 // uint16
	HEPChunkDstPort     = 0x0008 // uint16
	HEPChunkTimeSec     = 0x0009 // Unix seconds, uint32
	HEPChunkTimeUsec    = 0x000a // microseconds within the second, uint32
	HEPChunkProtoType   = 0x000b // what the payload is: 1 = SIP, uint8
	HEPChunkCaptureID   = 0x000c // capture agent id, uint32
	HEPChunkAuthKey     = 0x000e // authentication key, text
	HEPChunkPayload     = 0x000f // the captured message
	HEPChunkCorrelation = 0x0011 // correlation id (the Call-ID), text
	HEPChunkNodeName    = 0x0013 // capture node name, text (HOMER's NodeName)
)

// HEP values the encoder writes.
const (
	HEPFamilyIPv4 = 2
	HEPFamilyIPv6 = 10
	HEPProtoUDP   = 17
	HEPProtoTCP   = 6
	HEPTypeSIP    = 1
)

// HEPMaxLen is the largest HEP packet: its length field is 16 bits.
const HEPMaxLen = 65535

// ErrHEPTooLarge is returned by AppendHEP for a payload that does not fit
// a HEP packet's 16-bit length.
var ErrHEPTooLarge = errors.New("sip: hep: packet longer than 65535 bytes")

// HEPPacket is one HEP v3 packet: a captured message with where it went
// and when. The byte slices of a packet ParseHEP returns alias its input.
type HEPPacket struct {
	// Family is HEPFamilyIPv4 or HEPFamilyIPv6. AppendHEP derives it from
	// the addresses (IPv6 when either is, an IPv4 one then written
	// IPv4-mapped) and ignores this field.
	Family uint8
	// Protocol is the IP protocol: HEPProtoUDP, or HEPProtoTCP (also for
	// TLS and WebSocket, as OpenSIPS and Kamailio write it).
	Protocol uint8
	// Src and Dst are the message's source and destination.
	Src, Dst netip.AddrPort
	// Time is when the message was sent or received, to the microsecond.
	Time time.Time
	// ProtoType says what the payload is: HEPTypeSIP.
	ProtoType uint8
	// CaptureID identifies the capturing agent (OpenSIPS's hep_capture_id).
	CaptureID uint32
	// AuthKey, CorrelationID and NodeName are optional (not written when
	// empty): the collector's password, the Call-ID HOMER groups the
	// messages of a call by, and the name of the capturing node.
	AuthKey, CorrelationID, NodeName []byte
	// Payload is the message as it was on the wire.
	Payload []byte
}

// AppendHEP appends p, encoded as a HEP v3 packet, to dst. It allocates
// nothing when dst has room.
func AppendHEP(dst []byte, p *HEPPacket) ([]byte, error) {
	src, dstAddr := p.Src.Addr().Unmap(), p.Dst.Addr().Unmap()
	v6 := src.Is6() || dstAddr.Is6()
	n := 6 + 7 + 7 + 8 + 8 + 10 + 10 + 7 + 10 + 6 + len(p.Payload)
	if v6 {
		n += 2 * (6 + 16)
	} else {
		n += 2 * (6 + 4)
	}
	for _, s := range [][]byte{p.AuthKey, p.CorrelationID, p.NodeName} {
		if len(s) > 0 {
			n += 6 + len(s)
		}
	}
	if n > HEPMaxLen {
		return dst, ErrHEPTooLarge
	}
	start := len(dst)
	dst = append(dst, 'H', 'E', 'P', '3', byte(n>>8), byte(n))
	if v6 {
		dst = hepUint8(dst, HEPChunkFamily, HEPFamilyIPv6)
	} else {
		dst = hepUint8(dst, HEPChunkFamily, HEPFamilyIPv4)
	}
	dst = hepUint8(dst, HEPChunkProtocol, p.Protocol)
	if v6 {
		s16, d16 := p.Src.Addr().As16(), p.Dst.Addr().As16()
		dst = hepBytes(dst, HEPChunkSrcIPv6, s16[:])
		dst = hepBytes(dst, HEPChunkDstIPv6, d16[:])
	} else {
		s4, d4 := src.As4(), dstAddr.As4()
		dst = hepBytes(dst, HEPChunkSrcIPv4, s4[:])
		dst = hepBytes(dst, HEPChunkDstIPv4, d4[:])
	}
	dst = hepUint16(dst, HEPChunkSrcPort, p.Src.Port())
	dst = hepUint16(dst, HEPChunkDstPort, p.Dst.Port())
	sec, usec := p.Time.Unix(), p.Time.Nanosecond()/1000
	dst = hepUint32(dst, HEPChunkTimeSec, uint32(sec))
	dst = hepUint32(dst, HEPChunkTimeUsec, uint32(usec))
	dst = hepUint8(dst, HEPChunkProtoType, p.ProtoType)
	dst = hepUint32(dst, HEPChunkCaptureID, p.CaptureID)
	if len(p.AuthKey) > 0 {
		dst = hepBytes(dst, HEPChunkAuthKey, p.AuthKey)
	}
	dst = hepBytes(dst, HEPChunkPayload, p.Payload)
	if len(p.CorrelationID) > 0 {
		dst = hepBytes(dst, HEPChunkCorrelation, p.CorrelationID)
	}
	if len(p.NodeName) > 0 {
		dst = hepBytes(dst, HEPChunkNodeName, p.NodeName)
	}
	if len(dst)-start != n {
		panic(fmt.Sprintf("sip: hep: encoded %d bytes, counted %d", len(dst)-start, n))
	}
	return dst, nil
}

func hepHeader(dst []byte, typ uint16, dataLen int) []byte {
	l := 6 + dataLen
	return append(dst, 0, 0, byte(typ>>8), byte(typ), byte(l>>8), byte(l))
}

func hepUint8(dst []byte, typ uint16, v uint8) []byte {
	return append(hepHeader(dst, typ, 1), v)
}

func hepUint16(dst []byte, typ uint16, v uint16) []byte {
	return binary.BigEndian.AppendUint16(hepHeader(dst, typ, 2), v)
}

func hepUint32(dst []byte, typ uint16, v uint32) []byte {
	return binary.BigEndian.AppendUint32(hepHeader(dst, typ, 4), v)
}

func hepBytes(dst []byte, typ uint16, v []byte) []byte {
	return append(hepHeader(dst, typ, len(v)), v...)
}

// HEPLen reports the length of the HEP v3 packet at the start of b, from
// its header, for reading packets off a stream: 0 when b is shorter than a
// header, an error when it does not start with one.
func HEPLen(b []byte) (int, error) {
	if len(b) < 6 {
		return 0, nil
	}
	if string(b[:4]) != "HEP3" {
		return 0, errors.New("sip: hep: no HEP3 magic")
	}
	n := int(binary.BigEndian.Uint16(b[4:6]))
	if n < 6 {
		return 0, fmt.Errorf("sip: hep: length %d shorter than the header", n)
	}
	return n, nil
}

// ParseHEP decodes the HEP v3 packet at the start of b (b may hold more:
// a stream's next packets). Chunks of other vendors and unknown types are
// skipped; a generic chunk of a known type with the wrong size is an
// error, as is a packet without addresses, ports or payload.
func ParseHEP(b []byte) (HEPPacket, error) {
	var p HEPPacket
	n, err := HEPLen(b)
	if err != nil {
		return p, err
	}
	if n == 0 || n > len(b) {
		return p, fmt.Errorf("sip: hep: packet of %d bytes, %d read", n, len(b))
	}
	var (
		srcIP, dstIP       netip.Addr
		srcPort, dstPort   uint16
		sec, usec          uint32
		seen               uint32 // bit per chunk type below 32
		haveSrcP, haveDstP bool
	)
	for rest := b[6:n]; len(rest) > 0; {
		if len(rest) < 6 {
			return p, errors.New("sip: hep: truncated chunk header")
		}
		vendor := binary.BigEndian.Uint16(rest[0:2])
		typ := binary.BigEndian.Uint16(rest[2:4])
		l := int(binary.BigEndian.Uint16(rest[4:6]))
		if l < 6 || l > len(rest) {
			return p, fmt.Errorf("sip: hep: chunk %d of length %d, %d left", typ, l, len(rest))
		}
		data := rest[6:l]
		rest = rest[l:]
		if vendor != 0 {
			continue
		}
		if want := hepChunkSize(typ); want >= 0 && len(data) != want {
			return p, fmt.Errorf("sip: hep: chunk %d of %d bytes, want %d", typ, len(data), want)
		}
		if typ < 32 {
			seen |= 1 << typ
		}
		switch typ {
		case HEPChunkFamily:
			p.Family = data[0]
		case HEPChunkProtocol:
			p.Protocol = data[0]
		case HEPChunkSrcIPv4:
			srcIP = netip.AddrFrom4([4]byte(data))
		case HEPChunkDstIPv4:
			dstIP = netip.AddrFrom4([4]byte(data))
		case HEPChunkSrcIPv6:
			srcIP = netip.AddrFrom16([16]byte(data))
		case HEPChunkDstIPv6:
			dstIP = netip.AddrFrom16([16]byte(data))
		case HEPChunkSrcPort:
			srcPort, haveSrcP = binary.BigEndian.Uint16(data), true
		case HEPChunkDstPort:
			dstPort, haveDstP = binary.BigEndian.Uint16(data), true
		case HEPChunkTimeSec:
			sec = binary.BigEndian.Uint32(data)
		case HEPChunkTimeUsec:
			usec = binary.BigEndian.Uint32(data)
		case HEPChunkProtoType:
			p.ProtoType = data[0]
		case HEPChunkCaptureID:
			p.CaptureID = binary.BigEndian.Uint32(data)
		case HEPChunkAuthKey:
			p.AuthKey = data
		case HEPChunkPayload:
			p.Payload = data
		case HEPChunkCorrelation:
			p.CorrelationID = data
		case HEPChunkNodeName:
			p.NodeName = data
		}
	}
	if !srcIP.IsValid() || !dstIP.IsValid() || !haveSrcP || !haveDstP {
		return p, errors.New("sip: hep: addresses or ports missing")
	}
	if seen&(1<<HEPChunkPayload) == 0 {
		return p, errors.New("sip: hep: no payload")
	}
	if usec >= 1e6 {
		return p, fmt.Errorf("sip: hep: %d microseconds", usec)
	}
	p.Src = netip.AddrPortFrom(srcIP, srcPort)
	p.Dst = netip.AddrPortFrom(dstIP, dstPort)
	p.Time = time.Unix(int64(sec), int64(usec)*1000)
	return p, nil
}

// hepChunkSize is the data size of a fixed-size generic chunk, -1 for a
// variable one.
func hepChunkSize(typ uint16) int {
	switch typ {
	case HEPChunkFamily, HEPChunkProtocol, HEPChunkProtoType:
		return 1
	case HEPChunkSrcPort, HEPChunkDstPort:
		return 2
	case HEPChunkSrcIPv4, HEPChunkDstIPv4, HEPChunkTimeSec, HEPChunkTimeUsec, HEPChunkCaptureID:
		return 4
	case HEPChunkSrcIPv6, HEPChunkDstIPv6:
		return 16
	}
	return -1
}
