package registrar

import (
	"context"
	"strings"
)

// Identity is the account a request was authenticated as (OpenSIPS's $au
// and $ar): the Authenticate stage puts it in the context for the stages
// after it (call classes, blacklists, CDRs).
type Identity struct {
	// Username is the digest username, Domain the account's domain (the
	// realm when the account has none).
	Username, Domain string
	// Realm is the realm the credentials were checked against.
	Realm string
	// Subscriber is the account as the store returned it, with its call
	// classes.
	Subscriber Subscriber
}

// String says who the caller is: "caller 5001@voip.unisi.it, classes
// local,national".
func (id Identity) String() string {
	classes := strings.Join(id.Subscriber.Classes, ",")
	if classes == "" {
		classes = "(none)"
	}
	return "caller " + id.Username + "@" + id.Domain + ", classes " + classes
}

type identityKey struct{}

// NewContext returns a context carrying id.
func NewContext(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// IdentityFrom returns the identity in ctx, if a request was
// authenticated.
func IdentityFrom(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}
