package presence_test

import (
	"bytes"
	"encoding/xml"
	"io"
	"strings"
	"testing"

	"github.com/palio-voip/palio/presence"
	"github.com/palio-voip/palio/sip"
)

// docInfo is the dialog-info document as a watcher reads it.
type docInfo struct {
	XMLName xml.Name `xml:"urn:ietf:params:xml:ns:dialog-info dialog-info"`
	Version int      `xml:"version,attr"`
	State   string   `xml:"state,attr"`
	Entity  string   `xml:"entity,attr"`
	Dialogs []struct {
		ID        string `xml:"id,attr"`
		CallID    string `xml:"call-id,attr"`
		LocalTag  string `xml:"local-tag,attr"`
		RemoteTag string `xml:"remote-tag,attr"`
		Direction string `xml:"direction,attr"`
		State     struct {
			Event string `xml:"event,attr"`
			Value string `xml:",chardata"`
		} `xml:"state"`
		Local struct {
			Identity string `xml:"identity"`
		} `xml:"local"`
		Remote struct {
			Identity string `xml:"identity"`
		} `xml:"remote"`
	} `xml:"dialog"`
}

func parseInfo(t testing.TB, body []byte) docInfo {
	t.Helper()
	var d docInfo
	if err := xml.Unmarshal(body, &d); err != nil {
		t.Fatalf("dialog-info does not parse: %v\n%s", err, body)
	}
	return d
}

func TestDialogInfo(t *testing.T) {
	body := presence.DialogInfo("sip:5002@voip.unisi.it", 3, []presence.DialogView{{
		CallID: "abc@host", LocalTag: "lt", RemoteTag: "rt", Direction: presence.Recipient,
		State: sip.DialogEarly, Local: "sip:5002@voip.unisi.it", Remote: "sip:5001@voip.unisi.it",
	}, {
		CallID: "def", LocalTag: "x", Direction: presence.Initiator,
		State: sip.DialogTerminated, Event: "cancelled", Local: "sip:5002@voip.unisi.it", Remote: "sip:5009@voip.unisi.it",
	}})
	want := `<?xml version="1.0" encoding="UTF-8"?>
<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="3" state="full" entity="sip:5002@voip.unisi.it">
  <dialog id="abc@host" call-id="abc@host" local-tag="lt" remote-tag="rt" direction="recipient">
    <state>early</state>
    <local>
      <identity>sip:5002@voip.unisi.it</identity>
      <target uri="sip:5002@voip.unisi.it"></target>
    </local>
    <remote>
      <identity>sip:5001@voip.unisi.it</identity>
      <target uri="sip:5001@voip.unisi.it"></target>
    </remote>
  </dialog>
  <dialog id="def" call-id="def" local-tag="x" direction="initiator">
    <state event="cancelled">terminated</state>
    <local>
      <identity>sip:5002@voip.unisi.it</identity>
      <target uri="sip:5002@voip.unisi.it"></target>
    </local>
    <remote>
      <identity>sip:5009@voip.unisi.it</identity>
      <target uri="sip:5009@voip.unisi.it"></target>
    </remote>
  </dialog>
</dialog-info>
`
	if string(body) != want {
		t.Errorf("got\n%s\nwant\n%s", body, want)
	}
	if d := parseInfo(t, presence.DialogInfo("sip:5002@voip.unisi.it", 0, nil)); d.Version != 0 || d.State != "full" || len(d.Dialogs) != 0 {
		t.Errorf("empty document: got %+v", d)
	}
}

// FuzzDialogInfo checks that any identities, tags and Call-IDs give a
// well-formed document that reads back to the same strings (after the
// replacement of what XML cannot carry).
func FuzzDialogInfo(f *testing.F) {
	f.Add("sip:5002@voip.unisi.it", "abc@h", "t1", "t2", `"Bob" <sip:5001@x>`)
	f.Add("a&b<c>", "]]>", "\x00\x01", "\xff\xfe", "'\"&amp;")
	f.Fuzz(func(t *testing.T, entity, callID, localTag, remoteTag, remote string) {
		body := presence.DialogInfo(entity, 7, []presence.DialogView{{
			CallID: callID, LocalTag: localTag, RemoteTag: remoteTag, Direction: presence.Initiator,
			State: sip.DialogConfirmed, Local: entity, Remote: remote,
		}})
		dec := xml.NewDecoder(bytes.NewReader(body))
		for {
			_, err := dec.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("not well-formed: %v\n%q", err, body)
			}
		}
		d := parseInfo(t, body)
		if d.Version != 7 || len(d.Dialogs) != 1 {
			t.Fatalf("got %+v", d)
		}
		clean := func(s string) string {
			return strings.Map(func(r rune) rune {
				if r == 0x09 || r == 0x0A || r == 0x0D || r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 {
					return r
				}
				return '\uFFFD'
			}, strings.ToValidUTF8(s, "\uFFFD"))
		}
		// XML normalises line ends in character data and attribute values.
		norm := func(s string) string {
			s = strings.ReplaceAll(s, "\r\n", "\n")
			s = strings.ReplaceAll(s, "\r", "\n")
			return s
		}
		if got, want := d.Dialogs[0].CallID, clean(callID); norm(got) != norm(want) && !strings.ContainsAny(want, "\t\n\r") {
			t.Errorf("call-id: got %q, want %q", got, want)
		}
		if got, want := d.Dialogs[0].Remote.Identity, clean(remote); norm(got) != norm(want) {
			t.Errorf("remote identity: got %q, want %q", got, want)
		}
	})
}
