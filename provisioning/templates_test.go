package provisioning_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/palio-voip/palio/provisioning"
)

// TestTemplateOverride: a site's file named as a default replaces it for
// its family; one named after a model serves that model alone; the
// other families keep the defaults.
func TestTemplateOverride(t *testing.T) {
	site := fstest.MapFS{
		"README.txt": {Data: []byte("not a template: ignored")},
		"cisco.xml.tmpl": {Data: []byte(`<flat-profile>
<Site_Template>unisi</Site_Template>
{{- range .Lines}}
<User_ID_{{.Index}}_>{{xml .User}}</User_ID_{{.Index}}_>
<Password_{{.Index}}_>{{xml .Password}}</Password_{{.Index}}_>
{{- end}}
</flat-profile>
`)},
		"snom760.xml.tmpl": {Data: []byte(`<?xml version="1.0" encoding="utf-8"?>
<settings><phone-settings e="2">
<language perm="RW">Italiano</language>
{{- range .Lines}}
<user_name idx="{{.Index}}" perm="R">{{xml .User}}</user_name>
{{- end}}
</phone-settings></settings>
`)},
	}
	s := newSite(t, provisioning.Config{PathPrefix: "/prov", Templates: site})
	if got := strings.Join(s.p.Templates().Site(), " "); got != "cisco.xml.tmpl snom760.xml.tmpl" {
		t.Errorf("site templates in use: %q", got)
	}
	base := serveHTTP(t, s.p)
	_, body := get(t, nil, base+"/spa00e16d4a12f3.xml", "")
	p := parseFlatProfile(t, body)
	want(t, "site cisco template", p, "Site_Template", "unisi")
	want(t, "site cisco template", p, "Password_1_", "unisi5009")
	_, body = get(t, nil, base+"/snom760-000413A1B2C3.htm", "")
	f := parseSNOM(t, body)
	if v, _ := f.setting("language", ""); v != "Italiano" {
		t.Errorf("the SNOM 760's own template was not used:\n%s", body)
	}
	_, body = get(t, nil, base+"/snom710-0004137441D7.htm", "")
	f = parseSNOM(t, body)
	if v, _ := f.setting("user_pass", "1"); v != "unisi5009" || strings.Contains(body, "<language perm=\"RW\">Italiano</language>\n<user_name") {
		t.Errorf("the SNOM 710 did not get the default template:\n%s", body)
	}
}

// TestBrokenTemplate: a template that does not parse, refers to a field
// that does not exist, renders malformed XML or has a name that is no
// template is refused at load, with the file (and line) named.
func TestBrokenTemplate(t *testing.T) {
	tests := []struct {
		name, file, src string
		want            []string
	}{
		{"syntax", "snom.xml.tmpl", "<settings>\n<a>{{.Name}</a>\n</settings>\n", []string{"site template snom.xml.tmpl", "snom.xml.tmpl:2"}},
		{"unknown function", "yealink.cfg.tmpl", "#!version:1.0.0.1\n\naccount.1.password = {{escape .Name}}\n", []string{"yealink.cfg.tmpl:3", `"escape" not defined`}},
		{"unknown field", "cisco.xml.tmpl", "<flat-profile>\n{{range .Lines}}\n<User_ID_1_>{{.Username}}</User_ID_1_>\n{{end}}</flat-profile>\n", []string{"cisco.xml.tmpl:3", "Username"}},
		{"malformed XML", "snom-model.xml.tmpl", "<setting-files>\n<file url=\"{{.URL}}\">\n</setting-files>\n", []string{"snom-model.xml.tmpl", "malformed XML"}},
		{"unescaped XML", "spa112.xml.tmpl", "<flat-profile><Display_Name_1_>{{.Name}}</Display_Name_1_></flat-profile>\n", []string{"spa112.xml.tmpl", "malformed XML"}},
		{"not key = value", "generic.cfg.tmpl", "mac = {{.MAC}}\njust words\n", []string{"generic.cfg.tmpl", "not key = value"}},
		{"no such template", "snom710.cfg.tmpl", "x = 1\n", []string{"snom710.cfg.tmpl", "names no template"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := provisioning.LoadTemplates(fstest.MapFS{tt.file: {Data: []byte(tt.src)}})
			if err == nil {
				t.Fatal("loaded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			_, err = provisioning.New(provisioning.Config{Domain: domain, Templates: fstest.MapFS{tt.file: {Data: []byte(tt.src)}}}, provisioning.NewMemStore(), nil)
			if err == nil {
				t.Error("New accepted it")
			}
		})
	}
}
