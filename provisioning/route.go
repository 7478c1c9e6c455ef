package provisioning

import (
	"io/fs"
	"strings"
)

// fileKind is what a requested file name is.
type fileKind int

const (
	// fileNone is no file Palio serves: 404, not held against the source
	// (phones ask for optional files: Yealink's MAC-local.cfg...).
	fileNone fileKind = iota
	// fileDevice is a device's configuration, named by its MAC.
	fileDevice
	// fileModel is a model's file: SNOM's snom710.htm, Cisco's
	// spa112.cfg, Yealink's y000000000000.cfg.
	fileModel
	// fileFirmware is a file under firmware/.
	fileFirmware
	// fileMalformed is a device file's name whose MAC is no MAC
	// ("snom710-XYZ.htm"): a guess, held against the source.
	fileMalformed
)

// request is a file name read by route.
type request struct {
	kind fileKind
	mac  MAC
	// model is the model the name gives, if any; family the family it
	// implies ("" for MAC.xml and MAC.cfg, which any family may ask).
	model  Model
	family Family
	// name is the firmware file's path under firmware/.
	name string
}

// yealinkAny stands for the Yealink model a common file does not name.
var yealinkAny = Model{Name: "yealink", Display: "Yealink", Family: Yealink, MaxLines: 16}

// route reads a requested file name (the path below the provisioning
// root and the url key, without a leading slash) in the shapes the
// vendors request:
//
//	snom710.htm, snomD735.xml          SNOM model file
//	snom710-0004137441D7.htm (.xml)    SNOM device file
//	spa112.cfg (.xml)                  Cisco model file (the bootstrap)
//	spa0004137441d7.xml (.cfg)         Cisco device file
//	y000000000000.cfg, y0000000000XX.cfg   Yealink common file
//	0004137441d7.cfg (.xml, .htm)      any family's device file
//	firmware/NAME                      a firmware file
//
// Names are matched without regard to case.
func route(file string) request {
	if rest, ok := strings.CutPrefix(file, "firmware/"); ok {
		if rest == "" || !fs.ValidPath(rest) || len(rest) > 255 {
			return request{}
		}
		return request{kind: fileFirmware, name: rest}
	}
	if len(file) > 64 || strings.ContainsAny(file, "/\\") {
		return request{}
	}
	dot := strings.LastIndexByte(file, '.')
	if dot < 0 {
		return request{}
	}
	base, ext := strings.ToLower(file[:dot]), strings.ToLower(file[dot+1:])
	if ext != "htm" && ext != "xml" && ext != "cfg" {
		return request{}
	}
	switch {
	case strings.HasPrefix(base, "snom"):
		model, mac, hasMAC := strings.Cut(base, "-")
		m, known := modelByName(model)
		if known && m.Family != SNOM {
			known = false
		}
		if !hasMAC {
			if !known {
				return request{}
			}
			return request{kind: fileModel, model: m, family: SNOM}
		}
		addr, err := parseFileMAC(mac)
		if err != nil {
			return request{kind: fileMalformed}
		}
		return request{kind: fileDevice, mac: addr, model: m, family: SNOM}
	case strings.HasPrefix(base, "spa"):
		rest := base[3:]
		if len(rest) == 12 {
			addr, err := parseFileMAC(rest)
			if err != nil {
				return request{kind: fileMalformed}
			}
			return request{kind: fileDevice, mac: addr, family: Cisco}
		}
		if m, ok := modelByName(base); ok && m.Family == Cisco {
			return request{kind: fileModel, model: m, family: Cisco}
		}
		return request{}
	case len(base) == 13 && strings.HasPrefix(base, "y0000000000") && ext == "cfg" && isHex(base[11:]):
		return request{kind: fileModel, model: yealinkAny, family: Yealink}
	case len(base) == 12:
		addr, err := parseFileMAC(base)
		if err != nil {
			return request{}
		}
		return request{kind: fileDevice, mac: addr}
	}
	return request{}
}

// parseFileMAC reads the MAC of a file name: 12 hex digits only.
func parseFileMAC(s string) (MAC, error) {
	if len(s) != 12 {
		return MAC{}, ErrMalformedMAC
	}
	return ParseMAC(s)
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if _, ok := unhex(s[i]); !ok {
			return false
		}
	}
	return true
}
