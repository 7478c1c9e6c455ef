package permission

import (
	"context"
	"errors"
)

// Address is one row of OpenSIPS's address table: a host or subnet that
// belongs to a group (a PSTN gateway, the ToIP trunk, the media box...).
type Address struct {
	ID int
	// Group is the grp column: which group the address belongs to.
	Group int
	// IP is an IPv4 or IPv6 address.
	IP string
	// Mask is the prefix length: 32 (IPv4) or 128 (IPv6) for one host.
	Mask int
	// Port matches the source port; 0 matches any.
	Port int
	// Proto is any, udp, tcp, tls, ws, wss or sctp.
	Proto string
	// Pattern, when set, is a shell glob the checked URI must match.
	Pattern string
	// ContextInfo is returned to the caller on a match (a tag: "gw-siena").
	ContextInfo string
}

// ErrNotFound is returned by a Store for an address it does not have.
var ErrNotFound = errors.New("permission: not found")

// AddressStore is where the address table lives.
type AddressStore interface {
	// Addresses returns every row.
	Addresses(ctx context.Context) ([]Address, error)
	// AddAddress stores a row and returns it with its ID.
	AddAddress(ctx context.Context, a Address) (Address, error)
	// DeleteAddress removes the row with that ID.
	DeleteAddress(ctx context.Context, id int) error
}
