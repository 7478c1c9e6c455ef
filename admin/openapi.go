package admin

import (
	_ "embed"
	"net/http"
)

// openAPI is the API's description (OpenAPI 3.0), served at
// /admin/api/openapi.json; TestOpenAPI checks it against the handlers.
//
//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the API's OpenAPI 3 description, as JSON.
func OpenAPI() []byte { return append([]byte(nil), openAPI...) }

func (h *Handler) serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(openAPI)
}
