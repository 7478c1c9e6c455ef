package admin

import "context"

// Scope is what a login may do.
type Scope string

// The scopes.
const (
	// ScopeAdmin may do everything.
	ScopeAdmin Scope = "admin"
	// ScopeUser may read and change only its own account (Principal.Account):
	// its devices, registered contacts, call log, costs, call services and
	// password.
	ScopeUser Scope = "user"
)

// Principal is who a request acts as.
type Principal struct {
	// Name is the login's name, recorded in the audit log.
	Name  string
	Scope Scope
	// Account and Domain name the SIP account a user login owns (Domain
	// empty: Config.Domain).
	Account, Domain string
}

type principalKey struct{}

// withPrincipal returns ctx carrying p.
func withPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// principalFrom returns the request's principal; the zero Principal (no
// scope) when none.
func principalFrom(ctx context.Context) Principal {
	p, _ := ctx.Value(principalKey{}).(Principal)
	return p
}
