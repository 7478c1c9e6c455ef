package provisioning

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
)

// DHCP is what a site's DHCP server tells phones about provisioning:
// Palio runs no DHCP server, DHCPSnippet writes the configuration of
// one.
type DHCP struct {
	// URL is where the phones find their files, url key included
	// ("http://10.0.0.1:8080/prov/KEY"): option 66 (tftp-server-name),
	// which SNOM, Yealink and recent Cisco firmware read as a URL.
	URL string
	// TFTP, when set, is the address of the TFTP server (an IP address,
	// port 69): Cisco SPAs get it in option 66 instead of the URL, fetch
	// their model's bootstrap (spa112.cfg) over TFTP and are sent on to
	// URL by its Profile_Rule.
	TFTP string
}

// DHCPServers are the DHCP servers DHCPSnippet writes for.
var DHCPServers = []string{"dnsmasq", "isc", "kea"}

// SNOMOption43 returns the body of option 43 (vendor-encapsulated
// options, RFC 2132 §8.4) for SNOM phones, as SNOM's wiki describes it:
// sub-option 66 (0x42) with the base URL and sub-option 67 (0x43) with
// the file, each value ending in a NUL; the phone joins them into its
// setting_server and replaces {mac} with its MAC. Values in option 43
// win over options 66 and 67 (firmware 7.3.17/8.2.1 and later).
func SNOMOption43(base, file string) ([]byte, error) {
	if len(base)+1 > 255 || len(file)+1 > 255 {
		return nil, fmt.Errorf("provisioning: option 43: a value longer than 254 bytes")
	}
	var b []byte
	for _, so := range []struct {
		code byte
		v    string
	}{{66, base}, {67, file}} {
		b = append(b, so.code, byte(len(so.v)+1))
		b = append(b, so.v...)
		b = append(b, 0)
	}
	return b, nil
}

// snomFile is the file SNOM phones ask for through DHCP: their MAC's
// (any family's device file shape).
const snomFile = "{mac}.xml"

// DHCPSnippet returns the configuration lines for a DHCP server
// ("dnsmasq", "isc" for ISC dhcpd, "kea" for Kea's Dhcp4) that send
// phones to the provisioning files: SNOM phones (vendor class "snom…")
// option 43 as SNOMOption43 builds it, Cisco SPAs (vendor class
// "Cisco…" or "LINKSYS…") option 66 with the TFTP server when there is
// one, every other phone option 66 with the URL. The vendor classes are
// those the vendors document; check them against your phones' DHCP
// requests.
func DHCPSnippet(server string, d DHCP) (string, error) {
	u, err := url.Parse(d.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "tftp") || u.Host == "" {
		return "", fmt.Errorf("provisioning: DHCP: URL %q: want http://host[:port]/path", d.URL)
	}
	if strings.ContainsAny(d.URL, "\"'\\ \t\n") {
		return "", fmt.Errorf("provisioning: DHCP: URL %q: no quotes, backslashes or spaces", d.URL)
	}
	if d.TFTP != "" {
		if _, err := netip.ParseAddr(d.TFTP); err != nil {
			return "", fmt.Errorf("provisioning: DHCP: TFTP server %q: want an IP address", d.TFTP)
		}
	}
	base := strings.TrimSuffix(d.URL, "/")
	o43, err := SNOMOption43(base+"/", snomFile)
	if err != nil {
		return "", err
	}
	cisco := base
	if d.TFTP != "" {
		cisco = d.TFTP
	}
	colon := colonHex(o43)
	var b strings.Builder
	switch server {
	case "dnsmasq":
		fmt.Fprintf(&b, "# Palio provisioning (dnsmasq). Phones fetch their files from %s.\n", base)
		fmt.Fprintf(&b, "# SNOM: option 43 carries 66 = %q and 67 = %q.\n", base+"/", snomFile)
		b.WriteString("dhcp-vendorclass=set:snom,snom\n")
		b.WriteString("dhcp-vendorclass=set:cisco,Cisco\n")
		b.WriteString("dhcp-vendorclass=set:cisco,LINKSYS\n")
		fmt.Fprintf(&b, "dhcp-option=tag:snom,43,%s\n", colon)
		fmt.Fprintf(&b, "dhcp-option=tag:cisco,66,\"%s\"\n", cisco)
		fmt.Fprintf(&b, "dhcp-option=tag:!snom,tag:!cisco,66,\"%s\"\n", base)
	case "isc":
		fmt.Fprintf(&b, "# Palio provisioning (ISC dhcpd). Phones fetch their files from %s.\n", base)
		fmt.Fprintf(&b, "class \"snom\" {\n  match if substring(option vendor-class-identifier, 0, 4) = \"snom\";\n")
		fmt.Fprintf(&b, "  # sub-option 66 = %q, 67 = %q\n  option vendor-encapsulated-options %s;\n}\n", base+"/", snomFile, colon)
		fmt.Fprintf(&b, "class \"cisco\" {\n  match if substring(option vendor-class-identifier, 0, 5) = \"Cisco\" or substring(option vendor-class-identifier, 0, 7) = \"LINKSYS\";\n")
		fmt.Fprintf(&b, "  option tftp-server-name \"%s\";\n}\n", cisco)
		fmt.Fprintf(&b, "option tftp-server-name \"%s\";\n", base)
	case "kea":
		fmt.Fprintf(&b, "// Palio provisioning (Kea, inside \"Dhcp4\"). Phones fetch their files from %s.\n", base)
		fmt.Fprintf(&b, "// SNOM: option 43 carries 66 = %q and 67 = %q.\n", base+"/", snomFile)
		b.WriteString("\"client-classes\": [\n")
		fmt.Fprintf(&b, "  {\n    \"name\": \"snom\",\n    \"test\": \"substring(option[60].text, 0, 4) == 'snom'\",\n")
		b.WriteString("    \"option-def\": [ { \"name\": \"vendor-encapsulated-options\", \"code\": 43, \"type\": \"binary\" } ],\n")
		fmt.Fprintf(&b, "    \"option-data\": [ { \"name\": \"vendor-encapsulated-options\", \"code\": 43, \"csv-format\": false, \"data\": \"%s\" } ]\n  },\n", strings.ToUpper(hex.EncodeToString(o43)))
		fmt.Fprintf(&b, "  {\n    \"name\": \"cisco\",\n    \"test\": \"substring(option[60].text, 0, 5) == 'Cisco' or substring(option[60].text, 0, 7) == 'LINKSYS'\",\n")
		fmt.Fprintf(&b, "    \"option-data\": [ { \"name\": \"tftp-server-name\", \"data\": \"%s\" } ]\n  }\n],\n", cisco)
		fmt.Fprintf(&b, "\"option-data\": [ { \"name\": \"tftp-server-name\", \"data\": \"%s\" } ]\n", base)
	default:
		return "", fmt.Errorf("provisioning: DHCP server %q: want one of %s", server, strings.Join(DHCPServers, ", "))
	}
	return b.String(), nil
}

func colonHex(b []byte) string {
	parts := make([]string, len(b))
	for i, x := range b {
		parts[i] = hex.EncodeToString([]byte{x})
	}
	return strings.Join(parts, ":")
}
