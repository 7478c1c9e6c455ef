package provisioning

import (
	"bytes"
	"embed"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"sort"
	"strings"
	"text/template"
)

// TemplateData is what a template renders: one device's file, or a
// model's file (then MAC is zero and Lines, Keys and the credentials are
// empty). Values are raw: a template escapes them with the xml function
// in XML files and cfg in "key = value" files.
type TemplateData struct {
	// MAC is the device's address: {{.MAC}} is 12 lower-case hex
	// digits, {{.MAC.Upper}} and {{.MAC.Colon}} the other spellings.
	MAC MAC
	// Model is the device's model ({{.Model.Name}}, {{.Model.Display}}).
	Model Model
	// Name and Owner are the device's.
	Name, Owner string
	// Domain is the SIP domain of the lines (Config.Domain); Proxy the
	// "host[:port]" phones register through (Config.Proxy), also split in
	// ProxyHost and ProxyPort ("5060" when it has none).
	Domain, Proxy, ProxyHost, ProxyPort string
	// URL is where the phone fetches its files from now on, with no
	// trailing slash: Config.BaseURL (or the address it asked), the url
	// key, and, for a device with an AuthSecret, its credentials as the
	// URL's user information.
	URL string
	// AuthUser and AuthPassword are the device's HTTP credentials (its
	// MAC and AuthSecret); empty when it has none.
	AuthUser, AuthPassword string
	// Lines are the device's accounts with their credentials.
	Lines []LineData
	// Keys are its busy-lamp keys, placed after the lines.
	Keys []KeyData
	// FirmwareURL is the device's firmware URL, if any.
	FirmwareURL string
	// ResyncSeconds is how often the phone should check for a new
	// configuration (Config.ResyncInterval), ResyncMinutes the same in
	// minutes.
	ResyncSeconds, ResyncMinutes int
	// PickupPrefix is dialled before a BLF key's number to pick up its
	// ringing call (Config.PickupPrefix, "**").
	PickupPrefix string
	// Settings are the device's own settings, by name.
	Settings []Setting
}

// LineData is a line as a template writes it.
type LineData struct {
	// Index counts lines from 1.
	Index int
	// User, Domain, DisplayName: the account; AuthUser is the digest user
	// name (the account's user); Password its SIP password.
	User, Domain, DisplayName, AuthUser, Password string
	// Label is what the line key shows: the display name, else the user.
	Label string
}

// KeyData is a busy-lamp key as a template writes it.
type KeyData struct {
	// Index counts keys from 1; Position counts the phone's keys from 1,
	// after the lines' (the first BLF key of a two-line phone is
	// Position 3).
	Index, Position int
	// Number is the watched account; Label what the key shows (the
	// number when none was set); URI its SIP URI at the domain.
	Number, Label, URI string
}

// Setting is a per-device setting.
type Setting struct{ Name, Value string }

// format is how a file is checked once rendered.
type format int

const (
	xmlFormat format = iota
	kvFormat
)

// templateKind is one of the files a family serves.
type templateKind struct {
	name   string // the default template's file name
	family Family
	model  bool // a model's file (no device)
	format format
}

// kinds are every template the provisioner renders.
var kinds = []templateKind{
	{"snom.xml.tmpl", SNOM, false, xmlFormat},
	{"snom-model.xml.tmpl", SNOM, true, xmlFormat},
	{"cisco.xml.tmpl", Cisco, false, xmlFormat},
	{"cisco-model.xml.tmpl", Cisco, true, xmlFormat},
	{"yealink.cfg.tmpl", Yealink, false, kvFormat},
	{"yealink-common.cfg.tmpl", Yealink, true, kvFormat},
	{"generic.cfg.tmpl", Generic, false, kvFormat},
}

func kindOf(f Family, model bool) (templateKind, bool) {
	for _, k := range kinds {
		if k.family == f && k.model == model {
			return k, true
		}
	}
	return templateKind{}, false
}

//go:embed templates/*.tmpl
var defaultTemplates embed.FS

// Templates are the parsed templates: the embedded defaults, each
// replaced by a site's file of the same name, plus a site's per-model
// device templates ("snom760.xml.tmpl" for the SNOM 760s alone).
type Templates struct {
	byName map[string]*template.Template
	site   []string // the names a site's directory gave
}

// funcs are the functions templates may call.
var funcs = template.FuncMap{
	"xml":   xmlEscape,
	"cfg":   cfgValue,
	"upper": strings.ToUpper,
	"lower": strings.ToLower,
	"add":   func(a, b int) int { return a + b },
	"sub":   func(a, b int) int { return a - b },
}

// xmlEscape escapes s for XML text and attribute values.
func xmlEscape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// cfgValue makes s one "key = value" line's value: line breaks and other
// control characters go.
func cfgValue(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

// LoadTemplates parses the embedded default templates and those of site
// (nil: none): a site file named as a default (snom.xml.tmpl,
// snom-model.xml.tmpl, cisco.xml.tmpl, cisco-model.xml.tmpl,
// yealink.cfg.tmpl, yealink-common.cfg.tmpl, generic.cfg.tmpl) replaces
// it, and one named after a model with the device template's extension
// ("snom760.xml.tmpl", "spa112.xml.tmpl", "t46s.cfg.tmpl") serves that
// model's devices. Files not ending in .tmpl are ignored; any other
// .tmpl name is an error. Every template is parsed (Go text/template)
// and rendered once with sample data, and the XML ones' output checked
// well-formed: a mistake is refused here, with the file and line, and
// not served to phones.
func LoadTemplates(site fs.FS) (*Templates, error) {
	t := &Templates{byName: map[string]*template.Template{}}
	for _, k := range kinds {
		src, err := defaultTemplates.ReadFile("templates/" + k.name)
		if err != nil {
			return nil, err
		}
		tm, err := parseTemplate(k.name, string(src))
		if err != nil {
			return nil, fmt.Errorf("provisioning: default template %w", err)
		}
		t.byName[k.name] = tm
	}
	if site != nil {
		entries, err := fs.ReadDir(site, ".")
		if err != nil {
			return nil, fmt.Errorf("provisioning: site templates: %w", err)
		}
		for _, e := range entries {
			name := e.Name()
			if e.IsDir() || !strings.HasSuffix(name, ".tmpl") {
				continue
			}
			if _, _, ok := siteKind(name); !ok {
				return nil, fmt.Errorf("provisioning: site template %s: names no template (want one of %s, or a model's name with its family's extension, e.g. snom760.xml.tmpl)", name, strings.Join(defaultNames(), ", "))
			}
			src, err := fs.ReadFile(site, name)
			if err != nil {
				return nil, fmt.Errorf("provisioning: site template %s: %w", name, err)
			}
			tm, err := parseTemplate(name, string(src))
			if err != nil {
				return nil, fmt.Errorf("provisioning: site template %w", err)
			}
			t.byName[name] = tm
			t.site = append(t.site, name)
		}
	}
	names := make([]string, 0, len(t.byName))
	for n := range t.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		k, model, _ := siteKind(n)
		if _, err := t.execute(n, k, sampleData(k, model)); err != nil {
			where := "default"
			if slices.Contains(t.site, n) {
				where = "site"
			}
			return nil, fmt.Errorf("provisioning: %s template %w", where, err)
		}
	}
	return t, nil
}

// Site returns the names of the site's templates in use, sorted.
func (t *Templates) Site() []string {
	out := slices.Clone(t.site)
	sort.Strings(out)
	return out
}

func defaultNames() []string {
	var out []string
	for _, k := range kinds {
		out = append(out, k.name)
	}
	return out
}

// siteKind returns the kind of template a file name is, and the model it
// is for when it is a model's own.
func siteKind(name string) (templateKind, Model, bool) {
	for _, k := range kinds {
		if k.name == name {
			return k, Model{}, true
		}
	}
	base, ext, ok := strings.Cut(name, ".")
	if !ok {
		return templateKind{}, Model{}, false
	}
	m, found := modelByName(base)
	if !found {
		return templateKind{}, Model{}, false
	}
	k, _ := kindOf(m.Family, false)
	if "."+ext != strings.TrimPrefix(k.name, string(m.Family)) {
		return templateKind{}, Model{}, false
	}
	return k, m, true
}

func parseTemplate(name, src string) (*template.Template, error) {
	tm, err := template.New(name).Funcs(funcs).Option("missingkey=error").Parse(src)
	if err != nil {
		// text/template says "template: NAME:LINE: what".
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return tm, nil
}

// lookup returns the template for a device of model m (its own, else
// its family's) or for m's model file.
func (t *Templates) lookup(m Model, model bool) (string, templateKind, bool) {
	k, ok := kindOf(m.Family, model)
	if !ok {
		return "", k, false
	}
	if !model {
		own := m.Name + strings.TrimPrefix(k.name, string(m.Family))
		if _, ok := t.byName[own]; ok {
			return own, k, true
		}
	}
	return k.name, k, true
}

// render renders the file of d's model (a model file when model is
// true).
func (t *Templates) render(d TemplateData, model bool) ([]byte, error) {
	name, k, ok := t.lookup(d.Model, model)
	if !ok {
		return nil, fmt.Errorf("provisioning: no %s model file", d.Model.Family)
	}
	return t.execute(name, k, d)
}

// execute renders template name and checks the output.
func (t *Templates) execute(name string, k templateKind, d TemplateData) ([]byte, error) {
	var b bytes.Buffer
	if err := t.byName[name].Execute(&b, d); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := checkOutput(b.Bytes(), k.format); err != nil {
		return nil, fmt.Errorf("%s: renders %w", name, err)
	}
	return b.Bytes(), nil
}

// checkOutput checks a rendered file as its phone will read it: XML
// well-formed with one root element, or "key = value" lines (and #
// comments).
func checkOutput(b []byte, f format) error {
	switch f {
	case xmlFormat:
		dec := xml.NewDecoder(bytes.NewReader(b))
		depth, roots := 0, 0
		for {
			tok, err := dec.Token()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				line, _ := dec.InputPos()
				return fmt.Errorf("malformed XML at output line %d: %w", line, err)
			}
			switch tok.(type) {
			case xml.StartElement:
				if depth == 0 {
					roots++
				}
				depth++
			case xml.EndElement:
				depth--
			}
		}
		if roots != 1 || depth != 0 {
			return fmt.Errorf("malformed XML: %d root elements", roots)
		}
	case kvFormat:
		for i, line := range strings.Split(string(b), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			if k, _, ok := strings.Cut(line, "="); !ok || strings.TrimSpace(k) == "" || strings.ContainsAny(strings.TrimSpace(k), " \t") {
				return fmt.Errorf("output line %d %q: not key = value", i+1, line)
			}
		}
	}
	return nil
}

// sampleData is what templates are checked with at load: a device of
// the kind's family (or m) with two lines, two keys, a firmware URL,
// credentials and a setting, with characters that need escaping.
func sampleData(k templateKind, m Model) TemplateData {
	if m.Name == "" {
		for _, x := range models {
			if x.Family == k.family {
				m = x
				break
			}
		}
	}
	d := TemplateData{
		Model: m, Domain: "voip.example.org", Proxy: "voip.example.org:5060", ProxyHost: "voip.example.org", ProxyPort: "5060",
		URL: "http://prov.example.org/prov", ResyncSeconds: 86400, ResyncMinutes: 1440, PickupPrefix: "**",
	}
	if k.model {
		return d
	}
	d.MAC = MAC{0x00, 0x04, 0x13, 0x74, 0x41, 0xd7}
	d.Name, d.Owner = `Sample <"phone"> & co`, "IT"
	d.AuthUser, d.AuthPassword = d.MAC.String(), "s3cret&<>"
	d.Lines = []LineData{
		{Index: 1, User: "5002", Domain: "voip.example.org", DisplayName: "Anna <A&B>", AuthUser: "5002", Password: `p&<"'>`, Label: "Anna <A&B>"},
		{Index: 2, User: "5009", Domain: "voip.example.org", AuthUser: "5009", Password: "x", Label: "5009"},
	}
	d.Keys = []KeyData{
		{Index: 1, Position: 3, Number: "5003", Label: "5003", URI: "sip:5003@voip.example.org"},
		{Index: 2, Position: 4, Number: "5004", Label: "Reception & desk", URI: "sip:5004@voip.example.org"},
	}
	d.FirmwareURL = "http://prov.example.org/prov/firmware/fw.bin?x=1&y=2"
	d.Settings = []Setting{{"language", "Italiano & <more>"}}
	return d
}
