package presence

import (
	"bytes"
	"encoding/xml"
	"strconv"
	"strings"

	"github.com/palio-voip/palio/sip"
)

// ContentType is the media type of the NOTIFY bodies (RFC 4235 §4).
const ContentType = "application/dialog-info+xml"

// Direction says which end of a call the watched AOR is (RFC 4235 §4.1.1).
type Direction string

// The directions of RFC 4235.
const (
	Initiator Direction = "initiator" // the AOR placed the call
	Recipient Direction = "recipient" // the AOR was called
)

// DialogView is one call of a watched AOR, as its dialog element shows it.
type DialogView struct {
	// CallID, LocalTag and RemoteTag identify the dialog from the watched
	// AOR's side: for a call the AOR placed, local is the caller's From
	// tag; for a call it received, local is the callee's To tag. SNOM
	// phones build the Replaces header of a directed pickup from them.
	CallID, LocalTag, RemoteTag string
	Direction                   Direction
	State                       sip.DialogState
	// Event says why a terminated dialog ended (RFC 4235 §4.1.2:
	// "cancelled", "rejected", "local-bye", "remote-bye", "timeout"); empty
	// for others.
	Event string
	// Local and Remote are the identities of the two ends ("sip:5002@voip.unisi.it").
	Local, Remote string
}

// The XML of RFC 4235 §4. encoding/xml escapes every attribute and
// character data, so identities taken from the network cannot break the
// document.
type xmlDialogInfo struct {
	XMLName xml.Name    `xml:"urn:ietf:params:xml:ns:dialog-info dialog-info"`
	Version string      `xml:"version,attr"`
	State   string      `xml:"state,attr"`
	Entity  string      `xml:"entity,attr"`
	Dialogs []xmlDialog `xml:"dialog"`
}

type xmlDialog struct {
	ID        string          `xml:"id,attr"`
	CallID    string          `xml:"call-id,attr,omitempty"`
	LocalTag  string          `xml:"local-tag,attr,omitempty"`
	RemoteTag string          `xml:"remote-tag,attr,omitempty"`
	Direction string          `xml:"direction,attr,omitempty"`
	State     xmlState        `xml:"state"`
	Local     *xmlParticipant `xml:"local,omitempty"`
	Remote    *xmlParticipant `xml:"remote,omitempty"`
}

type xmlState struct {
	Event string `xml:"event,attr,omitempty"`
	Value string `xml:",chardata"`
}

type xmlParticipant struct {
	Identity string    `xml:"identity"`
	Target   xmlTarget `xml:"target"`
}

type xmlTarget struct {
	URI string `xml:"uri,attr"`
}

// DialogInfo returns the dialog-info document (RFC 4235 §4) of entity
// ("sip:5002@voip.unisi.it") with its calls, as a full-state document of
// the given version. Strings are escaped; characters XML cannot carry
// (controls, invalid UTF-8) are replaced with U+FFFD.
func DialogInfo(entity string, version uint32, dialogs []DialogView) []byte {
	doc := xmlDialogInfo{Version: strconv.FormatUint(uint64(version), 10), State: "full", Entity: clean(entity)}
	seen := make(map[string]bool, len(dialogs))
	for _, d := range dialogs {
		// The id is the Call-ID, as pua_dialoginfo makes it; a call from an
		// AOR to itself shows twice, the second time told apart.
		id := d.CallID
		if seen[id] {
			id += "-" + string(d.Direction)
		}
		seen[id] = true
		x := xmlDialog{
			ID:        clean(id),
			CallID:    clean(d.CallID),
			LocalTag:  clean(d.LocalTag),
			RemoteTag: clean(d.RemoteTag),
			Direction: string(d.Direction),
			State:     xmlState{Value: d.State.String(), Event: clean(d.Event)},
		}
		if d.Local != "" {
			x.Local = &xmlParticipant{Identity: clean(d.Local), Target: xmlTarget{URI: clean(d.Local)}}
		}
		if d.Remote != "" {
			x.Remote = &xmlParticipant{Identity: clean(d.Remote), Target: xmlTarget{URI: clean(d.Remote)}}
		}
		doc.Dialogs = append(doc.Dialogs, x)
	}
	var b bytes.Buffer
	b.WriteString(xml.Header)
	// Marshal cannot fail on these types.
	out, _ := xml.MarshalIndent(doc, "", "  ")
	b.Write(out)
	b.WriteByte('\n')
	return b.Bytes()
}

// clean drops what XML 1.0 cannot carry: encoding/xml escapes <, >, &
// and quotes, but would write control characters and invalid UTF-8 as they
// are.
func clean(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	ok := true
	for _, r := range s {
		if !xmlChar(r) {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	b := make([]rune, 0, len(s))
	for _, r := range s {
		if !xmlChar(r) {
			r = '\uFFFD'
		}
		b = append(b, r)
	}
	return string(b)
}

// xmlChar reports whether r is a Char of XML 1.0 §2.2 (invalid UTF-8 ranges
// over as U+FFFD, which is one).
func xmlChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}
