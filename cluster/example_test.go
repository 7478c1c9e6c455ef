package cluster_test

import (
	"fmt"
	"log/slog"

	"github.com/palio-voip/palio/cluster"
	"github.com/palio-voip/palio/sip"
)

// A node of the UniSI cluster publishes the events of its dialog table
// and follows the other nodes' calls. NewBus does not wait for NATS: the
// node serves calls whether or not the server is there yet.
func ExampleNewBus() {
	dialogs := sip.NewDialogs(0) // a server's srv.Dialogs()
	defer dialogs.Close()
	bus, err := cluster.NewBus(cluster.Config{
		URL:     "nats://127.0.0.1:4222",
		Cluster: "unisi",
		Node:    "siena-1",
	}, dialogs, cluster.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer bus.Close()
	stop := bus.Subscribe(func(ev sip.DialogEvent) {
		fmt.Println(ev.Kind, ev.Dialog.CallID, ev.Dialog.Call.Info().Callee)
	})
	defer stop()
	fmt.Println(bus.Node(), "publishes on", bus.Subject())
	// Output: siena-1 publishes on palio.unisi.dialog
}

// Check says what is wrong with a configuration before anything starts.
func ExampleConfig_Check() {
	err := cluster.Config{URL: "nats://palio:secret@nats1:4222", Node: "siena 1"}.Check()
	fmt.Println(err)
	// Output: cluster: Node "siena 1": want a name of 1 to 32 letters, digits, '.', '-' or '_', unique in the cluster
}
