package admin

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/palio-voip/palio/accounting"
	"github.com/palio-voip/palio/alias"
	"github.com/palio-voip/palio/dialplan"
	"github.com/palio-voip/palio/features"
	"github.com/palio-voip/palio/guard"
	"github.com/palio-voip/palio/provisioning"
	"github.com/palio-voip/palio/registrar"
	"github.com/palio-voip/palio/routing"
	"github.com/palio-voip/palio/sip"
)

// fieldErr is err refused in field: the API answers it 400 with
// {"error": ..., "field": ...}.
func fieldErr(field string, err error) error { return &sip.FieldError{Field: field, Err: err} }

// apiError is the JSON body of every error answer.
type apiError struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

// errConflict marks a write refused because what it creates exists.
var errConflict = errors.New("already exists")

// errNotConfigured answers the routes of a source the program did not give.
var errNotConfigured = errors.New("admin: not configured in this server")

// errForbidden answers a request outside the login's scope.
var errForbidden = errors.New("admin: forbidden")

// writeError answers err with its status: 400 for a FieldError, 404 for
// the stores' ErrNotFound, 409 for an existing row, 500 otherwise (logged).
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var fe *sip.FieldError
	code := http.StatusInternalServerError
	body := apiError{Error: err.Error()}
	switch {
	case errors.As(err, &fe):
		code, body.Field, body.Error = http.StatusBadRequest, fe.Field, trimPrefix(fe.Err.Error())
	case errors.Is(err, errNotConfigured):
		code = http.StatusNotImplemented
	case errors.Is(err, errForbidden):
		code = http.StatusForbidden
	case errors.Is(err, registrar.ErrNotFound), errors.Is(err, alias.ErrNotFound), errors.Is(err, routing.ErrNotFound),
		errors.Is(err, guard.ErrNotFound), errors.Is(err, features.ErrNotFound), errors.Is(err, accounting.ErrNotFound),
		errors.Is(err, sip.ErrNoDialog), errors.Is(err, ErrNotFound), errors.Is(err, dialplan.ErrNotFound),
		errors.Is(err, provisioning.ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, errConflict), errors.Is(err, alias.ErrExists), errors.Is(err, features.ErrExists), errors.Is(err, dialplan.ErrExists):
		code = http.StatusConflict
	}
	if code == http.StatusInternalServerError {
		h.log.Error("admin: request failed", "method", r.Method, "path", r.URL.Path, "error", err)
		body.Error = "internal error"
	}
	writeJSON(w, code, body)
}

// trimPrefix drops a library's "package: " prefix from a message meant
// for a form.
func trimPrefix(s string) string {
	for _, p := range []string{"registrar: ", "alias: ", "features: ", "admin: ", "permission: ", "dialplan: "} {
		s = strings.TrimPrefix(s, p)
	}
	return s
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// readJSON decodes the request body into v, strictly: an unknown field
// is a 400 naming it.
func readJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			field := te.Field
			if field == "" { // the body itself, or a map's value
				field = "body"
			}
			return fieldErr(field, errors.New("wrong type, want "+te.Type.String()))
		}
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return fieldErr(strings.Trim(f, `"`), errors.New("unknown field"))
		}
		return fieldErr("body", errors.New("not a JSON object: "+err.Error()))
	}
	return nil
}
