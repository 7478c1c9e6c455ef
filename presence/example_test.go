package presence_test

import (
	"fmt"
	"testing"

	"github.com/palio-voip/palio/presence"
	"github.com/palio-voip/palio/sip"
)

// The document a watcher of 5002 gets while 5001's call rings there.
func ExampleDialogInfo() {
	body := presence.DialogInfo("sip:5002@voip.unisi.it", 1, []presence.DialogView{{
		CallID: "a84b4c76e66710", LocalTag: "314159", RemoteTag: "1928301774", Direction: presence.Recipient,
		State: sip.DialogEarly, Local: "sip:5002@voip.unisi.it", Remote: "sip:5001@voip.unisi.it",
	}})
	fmt.Print(string(body))
	// Output:
	// <?xml version="1.0" encoding="UTF-8"?>
	// <dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="1" state="full" entity="sip:5002@voip.unisi.it">
	//   <dialog id="a84b4c76e66710" call-id="a84b4c76e66710" local-tag="314159" remote-tag="1928301774" direction="recipient">
	//     <state>early</state>
	//     <local>
	//       <identity>sip:5002@voip.unisi.it</identity>
	//       <target uri="sip:5002@voip.unisi.it"></target>
	//     </local>
	//     <remote>
	//       <identity>sip:5001@voip.unisi.it</identity>
	//       <target uri="sip:5001@voip.unisi.it"></target>
	//     </remote>
	//   </dialog>
	// </dialog-info>
}

// BenchmarkDialogInfo builds the document of one ringing call (what every
// NOTIFY of a BLF key costs). Budget: 30 allocations (28 measured), from
// encoding/xml.
func BenchmarkDialogInfo(b *testing.B) {
	views := []presence.DialogView{{
		CallID: "a84b4c76e66710", LocalTag: "314159", RemoteTag: "1928301774", Direction: presence.Recipient,
		State: sip.DialogEarly, Local: "sip:5002@voip.unisi.it", Remote: "sip:5001@voip.unisi.it",
	}}
	b.ReportAllocs()
	for b.Loop() {
		presence.DialogInfo("sip:5002@voip.unisi.it", 1, views)
	}
}
