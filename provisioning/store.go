package provisioning

import (
	"context"
	"errors"
)

// ErrNotFound is returned by a Store for a device it does not have.
var ErrNotFound = errors.New("provisioning: not found")

// Store is where devices live: palio_devices and its tables, or memory.
// Implementations must be safe for concurrent use.
type Store interface {
	// Device returns the device with MAC mac, or ErrNotFound.
	Device(ctx context.Context, mac MAC) (Device, error)
	// Devices returns every device, by MAC.
	Devices(ctx context.Context) ([]Device, error)
	// PutDevice stores d (Validate first), replacing the device with its
	// MAC but keeping that one's last fetch; a MAC recorded as an unknown
	// device is no longer one.
	PutDevice(ctx context.Context, d Device) error
	// DeleteDevice removes the device with MAC mac, or returns ErrNotFound.
	DeleteDevice(ctx context.Context, mac MAC) error
	// RecordFetch records f: as its device's last fetch when a device has
	// f.MAC, else as an unknown device (first seen, last seen, count).
	RecordFetch(ctx context.Context, f Fetch) error
	// UnknownDevices returns the unknown devices recorded, by MAC.
	UnknownDevices(ctx context.Context) ([]UnknownDevice, error)
}

// ResyncQueue carries resync requests from an operator's tool to the
// server that sends the NOTIFYs: `device resync` runs in another process
// than the proxy that holds the phones' connections. Stores that
// implement it (MemStore, store/sqlstore's) let Provisioner.ResyncPending
// send what was asked.
type ResyncQueue interface {
	// RequestResync asks for a resync of the device with MAC mac
	// (ErrNotFound without one); asking again before it is taken is one
	// request.
	RequestResync(ctx context.Context, mac MAC) error
	// TakeResyncs returns the requests not taken yet and removes them,
	// each given to one caller only, also among processes sharing the
	// store.
	TakeResyncs(ctx context.Context) ([]MAC, error)
}
