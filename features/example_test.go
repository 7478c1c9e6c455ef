package features_test

import (
	"fmt"

	"github.com/palio-voip/palio/features"
)

func ExampleSettings_Set() {
	s := features.Settings{User: "5002", Domain: "voip.unisi.it"}
	fmt.Println(s.Set("forward-noanswer", "VM_5002"), s.Set("noanswer-after", "20s"))
	fmt.Println(s.Set("forward-busy", "5002"))
	fmt.Println(s.Get("forward-noanswer"), s.Get("noanswer-after"), s.Get("forward-busy"))
	// Output:
	// <nil> <nil>
	// features: 5002 forward-busy: the account itself (a call would loop)
	// VM_5002 20s off
}
