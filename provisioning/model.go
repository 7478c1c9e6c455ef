package provisioning

import (
	"fmt"
	"slices"
	"strings"
)

// Family is a group of phone models configured by one template and
// fetching their files under one naming scheme.
type Family string

// The families Palio has templates for.
const (
	// SNOM is SNOM's 7xx and D7xx desk phones: XML settings
	// (<settings><phone-settings>), files snomMODEL.htm and
	// snomMODEL-MAC.htm.
	SNOM Family = "snom"
	// Cisco is Cisco (Linksys) SPA1xx ATAs and SPA5xx phones: the
	// <flat-profile> XML, files spaMODEL.cfg and spaMAC.xml.
	Cisco Family = "cisco"
	// Yealink is Yealink's T-series: y000000000000.cfg (common) and
	// MAC.cfg, "key = value" lines.
	Yealink Family = "yealink"
	// Generic is any other SIP phone: a plain "key = value" file, MAC.cfg,
	// for a site template to shape.
	Generic Family = "generic"
)

// Families lists the families in the order the documentation shows them.
var Families = []Family{SNOM, Cisco, Yealink, Generic}

// Model is a phone model Palio knows: its name as stored and written in
// file names ("snom710", "spa112", "t46s"), how people write it ("SNOM
// 710"), its family, and how many accounts (lines) it can hold.
type Model struct {
	Name     string
	Display  string
	Family   Family
	MaxLines int
}

// Vendor returns the maker's name, as people write it.
func (m Model) Vendor() string {
	switch m.Family {
	case SNOM:
		return "SNOM"
	case Cisco:
		return "Cisco"
	case Yealink:
		return "Yealink"
	}
	return "generic"
}

// models are the known models. SNOM's D7xx lines and Yealink's models
// are those of the vendors' public provisioning guides; a model missing
// here can be provisioned as "generic" with a site template.
var models = []Model{
	{"snom710", "SNOM 710", SNOM, 4},
	{"snom715", "SNOM 715", SNOM, 4},
	{"snom720", "SNOM 720", SNOM, 12},
	{"snom725", "SNOM 725", SNOM, 12},
	{"snom760", "SNOM 760", SNOM, 12},
	{"snomd712", "SNOM D712", SNOM, 4},
	{"snomd715", "SNOM D715", SNOM, 4},
	{"snomd717", "SNOM D717", SNOM, 6},
	{"snomd725", "SNOM D725", SNOM, 12},
	{"snomd735", "SNOM D735", SNOM, 12},
	{"snomd745", "SNOM D745", SNOM, 12},
	{"snomd765", "SNOM D765", SNOM, 12},
	{"snomd785", "SNOM D785", SNOM, 12},
	{"spa112", "Cisco SPA112", Cisco, 2},
	{"spa122", "Cisco SPA122", Cisco, 2},
	{"spa301", "Cisco SPA301", Cisco, 1},
	{"spa303", "Cisco SPA303", Cisco, 3},
	{"spa501g", "Cisco SPA501G", Cisco, 8},
	{"spa502g", "Cisco SPA502G", Cisco, 1},
	{"spa504g", "Cisco SPA504G", Cisco, 4},
	{"spa508g", "Cisco SPA508G", Cisco, 8},
	{"spa509g", "Cisco SPA509G", Cisco, 12},
	{"spa512g", "Cisco SPA512G", Cisco, 1},
	{"spa514g", "Cisco SPA514G", Cisco, 4},
	{"spa525g", "Cisco SPA525G", Cisco, 5},
	{"t19p", "Yealink T19P", Yealink, 1},
	{"t21p", "Yealink T21P", Yealink, 2},
	{"t23g", "Yealink T23G", Yealink, 3},
	{"t27g", "Yealink T27G", Yealink, 6},
	{"t29g", "Yealink T29G", Yealink, 16},
	{"t41s", "Yealink T41S", Yealink, 6},
	{"t42s", "Yealink T42S", Yealink, 12},
	{"t46s", "Yealink T46S", Yealink, 16},
	{"t48s", "Yealink T48S", Yealink, 16},
	{"t53", "Yealink T53", Yealink, 12},
	{"t54w", "Yealink T54W", Yealink, 16},
	{"t57w", "Yealink T57W", Yealink, 16},
	{"generic", "generic SIP phone", Generic, 16},
}

// Models returns the known models, by family and name.
func Models() []Model { return slices.Clone(models) }

// ParseModel finds a model by the way people write it: its name
// ("snom710", "spa112", "t46s") or its display name ("SNOM 710", "Cisco
// SPA112", "Yealink T46S"), in any case, with or without spaces, dashes
// and the vendor's name; a bare SNOM D-series name ("D735") too.
func ParseModel(s string) (Model, error) {
	k := strings.Map(func(r rune) rune {
		switch {
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		}
		return -1
	}, s)
	for _, cand := range []string{k, strings.TrimPrefix(k, "cisco"), strings.TrimPrefix(k, "linksys"),
		strings.TrimPrefix(strings.TrimPrefix(k, "yealink"), "sip"), "snom" + k} {
		if m, ok := modelByName(cand); ok {
			return m, nil
		}
	}
	return Model{}, fmt.Errorf("provisioning: unknown phone model %q (known: snom710…snom760, snomd712…snomd785, spa112…spa525g, t19p…t57w, generic)", s)
}

func modelByName(name string) (Model, bool) {
	for _, m := range models {
		if m.Name == name {
			return m, true
		}
	}
	return Model{}, false
}
