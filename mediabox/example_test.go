package mediabox_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/palio-voip/palio/mediabox"
)

// A menu is data: a prompt, and an action per key.
func ExampleParseAction() {
	keys := map[string]mediabox.Action{}
	for key, written := range map[string]string{"1": "queue:5000", "2": "transfer:5002", "9": "voicemail:5002", "0": "repeat"} {
		a, err := mediabox.ParseAction(written)
		if err != nil {
			log.Fatal(err)
		}
		keys[key] = a
	}
	menu := mediabox.Menu{ID: "5000", Prompt: "ivr-5000", Keys: keys, Timeout: 5 * time.Second}
	fmt.Println(menu.Validate())
	_, err := mediabox.ParseAction("transfer:")
	fmt.Println(err)
	// Output:
	// <nil>
	// mediabox: action "transfer": transfer needs a number
}

// A program runs a box beside its router: the router's media gateway
// points at the box's address, and the box sends the calls it places
// (transfers, queue agents) back through the router.
func ExampleNew() {
	store := mediabox.NewMemStore()
	box, err := mediabox.New(mediabox.Config{
		Listen: "127.0.0.1:5080",
		Router: "127.0.0.1:5060",
		Domain: "voip.unisi.it",
		Spool:  "/var/spool/palio/voicemail",
	}, store)
	if err != nil {
		log.Fatal(err)
	}
	if err := box.Start(context.Background()); err != nil {
		log.Fatal(err)
	}
	defer box.Close()
}
