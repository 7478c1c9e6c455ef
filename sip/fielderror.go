package sip

import "errors"

// FieldError is a value refused by a check, with the name of the field
// it is in as a form, the admin API or a database column names it
// ("prefix", "match_exp", "owner"). Validation methods across Palio return
// one so that a caller can point at the field without re-running the
// check piece by piece. Its text is the error's own: the error already
// says which value it refused.
type FieldError struct {
	Field string
	Err   error
}

// Error returns the error's text.
func (e *FieldError) Error() string { return e.Err.Error() }

// Unwrap returns the error.
func (e *FieldError) Unwrap() error { return e.Err }

// FieldOf returns the field err (or an error it wraps) names, and
// whether it names one.
func FieldOf(err error) (string, bool) {
	var fe *FieldError
	if errors.As(err, &fe) {
		return fe.Field, true
	}
	return "", false
}
