package mediabridge_test

import (
	"fmt"
	"net/netip"

	"github.com/palio-voip/palio/mediabridge"
)

func Example() {
	r, err := mediabridge.New(mediabridge.Config{
		Bind:    netip.MustParseAddr("127.0.0.1"),
		PortMin: 31000, PortMax: 31999,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()

	s, _ := r.NewSession("a84b4c76e66710")
	st, err := s.Stream(0)
	if err != nil {
		fmt.Println(err)
		return
	}
	st.SetPeer(mediabridge.LegA, netip.MustParseAddrPort("127.0.0.1:4000"), netip.AddrPort{})
	st.SetPeer(mediabridge.LegB, netip.MustParseAddrPort("127.0.0.1:18000"), netip.AddrPort{})
	b, a := st.Local(mediabridge.LegB), st.Local(mediabridge.LegA)
	fmt.Println("offer to B names the relay:", b.Addr(), b.Port()%2 == 0)
	fmt.Println("answer to A names the relay:", a.Addr(), a.Port()%2 == 0)
	fmt.Println("sessions:", r.Sessions(), "ports:", r.PortsInUse())
	s.Close()
	fmt.Println("after close:", r.Sessions(), r.PortsInUse())
	// Output:
	// offer to B names the relay: 127.0.0.1 true
	// answer to A names the relay: 127.0.0.1 true
	// sessions: 1 ports: 4
	// after close: 0 0
}
