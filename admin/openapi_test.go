package admin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
)

// spec is the part of an OpenAPI 3 document the test reads.
type spec struct {
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas map[string]schema `json:"schemas"`
	} `json:"components"`
}

type operation struct {
	RequestBody *struct {
		Required bool `json:"required"`
		Content  map[string]struct {
			Schema schema `json:"schema"`
		} `json:"content"`
	} `json:"requestBody"`
	Responses map[string]struct {
		Content map[string]struct {
			Schema schema `json:"schema"`
		} `json:"content"`
	} `json:"responses"`
}

type schema struct {
	Ref        string            `json:"$ref"`
	Type       string            `json:"type"`
	Properties map[string]schema `json:"properties"`
	Required   []string          `json:"required"`
	Items      *schema           `json:"items"`
	Enum       []string          `json:"enum"`
	// AdditionalProperties is false (no other property), a schema, or absent.
	AdditionalProperties json.RawMessage `json:"additionalProperties"`
}

// check reports where v does not have the shape of s.
func (sp *spec) check(s schema, v any, at string) error {
	if s.Ref != "" {
		name := strings.TrimPrefix(s.Ref, "#/components/schemas/")
		ref, ok := sp.Components.Schemas[name]
		if !ok {
			return fmt.Errorf("%s: no schema %s", at, name)
		}
		return sp.check(ref, v, at)
	}
	switch s.Type {
	case "":
		return nil
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: got %T, want an object", at, v)
		}
		for _, r := range s.Required {
			if _, ok := m[r]; !ok {
				return fmt.Errorf("%s: no %q", at, r)
			}
		}
		var extra *schema
		closed := string(s.AdditionalProperties) == "false"
		if len(s.AdditionalProperties) > 0 && !closed {
			extra = new(schema)
			if err := json.Unmarshal(s.AdditionalProperties, extra); err != nil {
				return err
			}
		}
		for k, val := range m {
			ps, ok := s.Properties[k]
			switch {
			case ok:
			case extra != nil:
				ps = *extra
			case closed:
				return fmt.Errorf("%s: property %q is not documented", at, k)
			default:
				continue
			}
			if err := sp.check(ps, val, at+"."+k); err != nil {
				return err
			}
		}
	case "array":
		a, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: got %T, want an array", at, v)
		}
		for i, e := range a {
			if err := sp.check(*s.Items, e, fmt.Sprintf("%s[%d]", at, i)); err != nil {
				return err
			}
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			return fmt.Errorf("%s: got %T, want a string", at, v)
		}
		if len(s.Enum) > 0 && !slices.Contains(s.Enum, str) {
			return fmt.Errorf("%s: %q not in %v", at, str, s.Enum)
		}
	case "integer":
		if f, ok := v.(float64); !ok || f != float64(int64(f)) {
			return fmt.Errorf("%s: got %v, want an integer", at, v)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("%s: got %T, want a boolean", at, v)
		}
	default:
		return fmt.Errorf("%s: type %s not understood by the test", at, s.Type)
	}
	return nil
}

// pathValues fill the documented paths' parameters with the fixture's data.
var pathValues = strings.NewReplacer("/devices/{mac}", "/devices/000413aabbcc", "{mac}", "000e08112233", "/api/blacklist/{id}", "/api/blacklist/3", "/carriers/{id}", "/carriers/pstn", "/rules/{id}", "/rules/1", "/blacklist/{id}", "/blacklist/1", "{account}", "5002", "{alias}", "5500", "{callid}", "call-1",
	"{id}", "gw-siena-1", "{name}", "5002", "{kind}", "ip", "{subject}", "203.0.113.9")

// goodBodies are valid bodies of the writes, by route.
var goodBodies = map[string]any{
	"POST /admin/api/accounts":                     map[string]any{"username": "5200", "password": "s3cret!", "classes": []string{"local", "national"}, "owner": "Anna Bianchi", "note": "Rettorato"},
	"PATCH /admin/api/accounts/{account}":          map[string]any{"classes": []string{"local"}, "owner": "Giulia Verdi", "note": ""},
	"POST /admin/api/accounts/{account}/password":  map[string]any{"password": "n3w"},
	"PATCH /admin/api/accounts/{account}/features": map[string]any{"forward-busy": "5003"},
	"POST /admin/api/aliases":                      map[string]any{"alias": "5501", "target": "FAX_5501"},
	"PUT /admin/api/notice":                        map[string]any{"text": "maintenance Sunday 8-10"},
	"POST /admin/api/login":                        map[string]any{"name": "admin", "password": adminPassword},
	"POST /admin/api/session/password":             map[string]any{"old": adminPassword, "new": "another-pass"},
	"PUT /admin/api/logins/{name}":                 map[string]any{"scope": "user", "account": "5003", "password": "user-5003-pass"},
	"POST /admin/api/route":                        map[string]any{"number": "5003", "from": "5002"},
	"POST /admin/api/dialplan/rules":               map[string]any{"dpid": 0, "pr": 3, "match_op": 1, "match_exp": "^1[0-9]{2}$", "attrs": "emergency"},
	"PATCH /admin/api/dialplan/rules/{id}":         map[string]any{"attrs": "voip-internal"},
	"POST /admin/api/accounts/{account}/blacklist": map[string]any{"prefix": "0899", "allow": false},
	"PATCH /admin/api/blacklist/{id}":              map[string]any{"description": "satellite phones"},
	"POST /admin/api/blacklist":                    map[string]any{"prefix": "0899", "allow": false, "description": "premium rate"},
	"POST /admin/api/devices/unknown/{mac}/assign": map[string]any{"model": "spa504g", "name": "Front desk", "lines": []string{"5003"}},
	"POST /admin/api/calls/{callid}/hangup":        map[string]any{"reason": "fraud suspected"},
	"PATCH /admin/api/devices/{mac}":               map[string]any{"name": "Reception", "lines": []string{"5002", "5003"}},
}

// queries are the required query parameters of the documented GETs.
var queries = map[string]string{
	"GET /admin/api/dialplan/translate": "?dpid=0&number=0577123456",
	"GET /admin/api/route":              "?number=0577123456&from=5002",
}

// TestOpenAPI checks the OpenAPI file against the handlers: every
// documented operation answers, with a valid request, a documented
// success status and a body of the documented shape; every error body
// has the Error shape; and every route the handler serves is documented.
func TestOpenAPI(t *testing.T) {
	var sp spec
	if err := json.Unmarshal(openAPI, &sp); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	documented := map[string]bool{}
	var names []string
	for p, ops := range sp.Paths {
		for m := range ops {
			if m == "parameters" {
				continue
			}
			key := strings.ToUpper(m) + " " + p
			documented[key] = true
			names = append(names, key)
		}
	}
	sort.Strings(names)
	served := newFixture(t, WithoutLogin()).h.Routes()
	for _, r := range served {
		if !documented[r] {
			t.Errorf("route %s is served but not in openapi.json", r)
		}
	}
	for _, n := range names {
		if !slices.Contains(served, n) {
			t.Errorf("openapi.json documents %s, which is not served", n)
		}
	}
	for _, key := range names {
		t.Run(key, func(t *testing.T) {
			method, p, _ := strings.Cut(key, " ")
			target := pathValues.Replace(p) + queries[key]
			var op operation
			if err := json.Unmarshal(sp.Paths[p][strings.ToLower(method)], &op); err != nil {
				t.Fatal(err)
			}
			f := newFixture(t, WithoutLogin())
			code, body := do(t, f.h, method, target, goodBodies[key])
			resp, ok := op.Responses[fmt.Sprint(code)]
			if !ok || code >= 300 {
				t.Fatalf("got status %d (%s), want a documented success", code, body)
			}
			for ctype, c := range resp.Content {
				if ctype != "application/json" {
					continue
				}
				var v any
				if err := json.Unmarshal(body, &v); err != nil {
					t.Fatalf("body %s: %v", body, err)
				}
				if err := sp.check(c.Schema, v, "body"); err != nil {
					t.Errorf("%v\nbody: %s", err, body)
				}
			}
			// Each documented error status that a bad request can reach
			// answers the Error shape: 404 for a missing account, gateway, …
			if _, ok := op.Responses["404"]; ok && strings.Contains(p, "{") {
				bad := strings.NewReplacer("{mac}", "000e08999999", "/api/blacklist/{id}", "/api/blacklist/999", "/rules/{id}", "/rules/999", "{account}", "5999", "{alias}", "5999", "{callid}", "nope",
					"{id}", "nope", "{name}", "nope", "{kind}", "ip", "{subject}", "198.51.100.1").Replace(p)
				code, body := do(t, newFixture(t, WithoutLogin()).h, method, bad, goodBodies[key])
				if code != http.StatusNotFound {
					t.Fatalf("%s %s: got status %d (%s), want 404", method, bad, code, body)
				}
				var v any
				json.Unmarshal(body, &v)
				if err := sp.check(schema{Ref: "#/components/schemas/Error"}, v, "404 body"); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// asJSON is v as encoding/json reads it back into an any.
func asJSON(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestOpenAPIRequestBodies checks the documented request bodies: each
// good body (goodBodies) has the shape of its route's requestBody schema,
// every documented requestBody has a good body in the test and every good
// body a documented requestBody; and a body with a field no schema has
// answers 400, documented, with the Error shape naming the field.
func TestOpenAPIRequestBodies(t *testing.T) {
	var sp spec
	if err := json.Unmarshal(openAPI, &sp); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	withBody := map[string]bool{}
	for p, ops := range sp.Paths {
		for m, raw := range ops {
			if m == "parameters" {
				continue
			}
			key := strings.ToUpper(m) + " " + p
			var op operation
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			if op.RequestBody == nil {
				continue
			}
			withBody[key] = true
			t.Run(key, func(t *testing.T) {
				c, ok := op.RequestBody.Content["application/json"]
				if !ok {
					t.Fatal("the requestBody has no application/json schema")
				}
				good, ok := goodBodies[key]
				if !ok {
					t.Fatal("documented with a requestBody, but no good body in goodBodies")
				}
				if err := sp.check(c.Schema, asJSON(t, good), "request"); err != nil {
					t.Errorf("the good body against its schema: %v", err)
				}
				if key == "POST /admin/api/login" {
					return // the login is tried with the fixture's own session below
				}
				if _, ok := op.Responses["400"]; !ok {
					t.Fatal("a route with a body documents no 400")
				}
				bad := map[string]any{"palio_unknown": true}
				if m, ok := asJSON(t, good).(map[string]any); ok {
					m["palio_unknown"] = true
					bad = m
				}
				method, path, _ := strings.Cut(key, " ")
				code, body := do(t, newFixture(t, WithoutLogin()).h, method, pathValues.Replace(path), bad)
				if code != http.StatusBadRequest {
					t.Fatalf("a body with an unknown field: got %d %s, want 400", code, body)
				}
				var v any
				if err := json.Unmarshal(body, &v); err != nil {
					t.Fatalf("400 body %s: %v", body, err)
				}
				if err := sp.check(schema{Ref: "#/components/schemas/Error"}, v, "400 body"); err != nil {
					t.Error(err)
				}
				if m, _ := v.(map[string]any); m["field"] != "palio_unknown" {
					t.Errorf("400 body %s: want the field palio_unknown named", body)
				}
			})
		}
	}
	for key := range goodBodies {
		if !withBody[key] {
			t.Errorf("goodBodies has %s, which openapi.json documents without a requestBody", key)
		}
	}
}
