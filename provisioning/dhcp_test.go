package provisioning_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/palio-voip/palio/provisioning"
)

// TestSNOMOption43: the layout of SNOM's wiki example, byte for byte:
// option 66 "http://test" and option 67 "snom/settings.php" tunnelled
// in option 43.
func TestSNOMOption43(t *testing.T) {
	got, err := provisioning.SNOMOption43("http://test", "snom/settings.php")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := hex.DecodeString(strings.ReplaceAll("42:0c:68:74:74:70:3a:2f:2f:74:65:73:74:00:43:12:73:6e:6f:6d:2f:73:65:74:74:69:6e:67:73:2e:70:68:70:00", ":", ""))
	if !bytes.Equal(got, want) {
		t.Errorf("got  % x\nwant % x", got, want)
	}
}

// TestDHCPSnippet: each server's snippet sends SNOM phones option 43,
// Cisco the TFTP server, the others the URL; Kea's is JSON.
func TestDHCPSnippet(t *testing.T) {
	d := provisioning.DHCP{URL: "http://10.0.0.1:8080/prov/Xk9", TFTP: "10.0.0.1"}
	o43, _ := provisioning.SNOMOption43("http://10.0.0.1:8080/prov/Xk9/", "{mac}.xml")
	for _, server := range provisioning.DHCPServers {
		t.Run(server, func(t *testing.T) {
			out, err := provisioning.DHCPSnippet(server, d)
			if err != nil {
				t.Fatal(err)
			}
			h := hex.EncodeToString(o43)
			flat := strings.ToLower(strings.ReplaceAll(out, ":", ""))
			if !strings.Contains(flat, h) {
				t.Errorf("no option 43 %s:\n%s", h, out)
			}
			if !strings.Contains(out, `"10.0.0.1"`) || !strings.Contains(out, `"http://10.0.0.1:8080/prov/Xk9"`) {
				t.Errorf("the TFTP server or the URL is missing:\n%s", out)
			}
			if server == "kea" {
				var v map[string]any
				var body strings.Builder
				for _, l := range strings.Split(out, "\n") {
					if !strings.HasPrefix(l, "//") {
						body.WriteString(l + "\n")
					}
				}
				if err := json.Unmarshal([]byte("{"+body.String()+"}"), &v); err != nil {
					t.Errorf("not JSON inside Dhcp4: %v\n%s", err, out)
				}
			}
		})
	}
	if _, err := provisioning.DHCPSnippet("windows", d); err == nil {
		t.Error("an unknown server was accepted")
	}
	if _, err := provisioning.DHCPSnippet("isc", provisioning.DHCP{URL: `http://x/"; evil`}); err == nil {
		t.Error("a URL with a quote was accepted")
	}
}
