package admin_test

import (
	"fmt"
	"net/http/httptest"
	"strings"

	"github.com/palio-voip/palio/admin"
)

// A handler with no sources but its own store: the notice, and a write
// refused with the field named. WithoutLogin is for this example only: a
// real program gives Config.Logins.
func ExampleNew() {
	h, err := admin.New(admin.Config{Domain: "voip.unisi.it"}, admin.NewMemStore(), admin.WithoutLogin())
	if err != nil {
		panic(err)
	}
	for _, body := range []string{`{"text": "maintenance Sunday 8-10"}`, `{"text": 42}`} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("PUT", "/admin/api/notice", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		h.ServeHTTP(w, r)
		fmt.Println(w.Code, strings.Contains(w.Body.String(), `"field":"text"`))
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/admin/api/accounts", nil))
	fmt.Println(w.Code, "(no accounts source)")
	// Output:
	// 200 false
	// 400 true
	// 501 (no accounts source)
}
