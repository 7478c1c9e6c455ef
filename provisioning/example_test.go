package provisioning_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"

	"github.com/palio-voip/palio/provisioning"
	"github.com/palio-voip/palio/registrar"
)

func ExampleParseMAC() {
	for _, s := range []string{"00:04:13:74:41:D7", "0004.1374.41d7", "0004137441d7", "00:04:13:74:41"} {
		m, err := provisioning.ParseMAC(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(m, m.Upper(), m.Colon())
	}
	// Output:
	// 0004137441d7 0004137441D7 00:04:13:74:41:d7
	// 0004137441d7 0004137441D7 00:04:13:74:41:d7
	// 0004137441d7 0004137441D7 00:04:13:74:41:d7
	// provisioning: malformed MAC address: "00:04:13:74:41"
}

// A Cisco SPA112 asks for its profile; the line's password is the
// account's, from the registrar's subscriber store.
func ExampleProvisioner_ServeHTTP() {
	ctx := context.Background()
	accounts := registrar.NewMemStore()
	acct := registrar.NewSubscriber("5009", "voip.unisi.it", "unisi5009")
	acct.Password = "unisi5009" // a store that keeps plaintext (OpenSIPS's calculate_ha1)
	accounts.AddSubscriber(ctx, acct)

	devices := provisioning.NewMemStore()
	mac, _ := provisioning.ParseMAC("00e1.6d4a.12f3")
	devices.PutDevice(ctx, provisioning.Device{MAC: mac, Model: "spa112", Name: "ATA di test",
		Lines: []provisioning.Line{{User: "5009", DisplayName: "Prova"}}})

	p, err := provisioning.New(provisioning.Config{
		Domain: "voip.unisi.it", BaseURL: "https://prov.unisi.it/prov", PathPrefix: "/prov",
	}, devices, accounts)
	if err != nil {
		fmt.Println(err)
		return
	}
	w := httptest.NewRecorder()
	p.ServeHTTP(w, httptest.NewRequest("GET", "/prov/spa00e16d4a12f3.xml", nil))
	fmt.Println(w.Code)
	for _, line := range strings.Split(w.Body.String(), "\n") {
		for _, k := range []string{"<Profile_Rule", "<Proxy_1_", "<User_ID_1_", "<Password_1_"} {
			if strings.HasPrefix(line, k) {
				fmt.Println(line)
			}
		}
	}
	// Output:
	// 200
	// <Profile_Rule ua="na">https://prov.unisi.it/prov/spa$MA.xml</Profile_Rule>
	// <Proxy_1_ ua="na">voip.unisi.it</Proxy_1_>
	// <User_ID_1_ ua="na">5009</User_ID_1_>
	// <Password_1_ ua="na">unisi5009</Password_1_>
}

func ExampleDHCPSnippet() {
	out, err := provisioning.DHCPSnippet("dnsmasq", provisioning.DHCP{URL: "http://10.0.0.1:8080/prov", TFTP: "10.0.0.1"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(out)
	// Output:
	// # Palio provisioning (dnsmasq). Phones fetch their files from http://10.0.0.1:8080/prov.
	// # SNOM: option 43 carries 66 = "http://10.0.0.1:8080/prov/" and 67 = "{mac}.xml".
	// dhcp-vendorclass=set:snom,snom
	// dhcp-vendorclass=set:cisco,Cisco
	// dhcp-vendorclass=set:cisco,LINKSYS
	// dhcp-option=tag:snom,43,42:1b:68:74:74:70:3a:2f:2f:31:30:2e:30:2e:30:2e:31:3a:38:30:38:30:2f:70:72:6f:76:2f:00:43:0a:7b:6d:61:63:7d:2e:78:6d:6c:00
	// dhcp-option=tag:cisco,66,"10.0.0.1"
	// dhcp-option=tag:!snom,tag:!cisco,66,"http://10.0.0.1:8080/prov"
}
