package provisioning

import (
	"bytes"
	"context"
	"slices"
	"sync"
)

// MemStore is a Store and a ResyncQueue in memory, for tests and tiny
// deployments.
type MemStore struct {
	mu      sync.Mutex
	devices map[MAC]Device
	unknown map[MAC]UnknownDevice
	resync  []MAC
}

var (
	_ Store       = (*MemStore)(nil)
	_ ResyncQueue = (*MemStore)(nil)
)

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore {
	return &MemStore{devices: map[MAC]Device{}, unknown: map[MAC]UnknownDevice{}}
}

// Device returns the device with MAC mac.
func (s *MemStore) Device(ctx context.Context, mac MAC) (Device, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.devices[mac]
	if !ok {
		return Device{}, ErrNotFound
	}
	return d.Clone(), nil
}

// Devices returns every device, by MAC.
func (s *MemStore) Devices(ctx context.Context) ([]Device, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Device, 0, len(s.devices))
	for _, d := range s.devices {
		out = append(out, d.Clone())
	}
	slices.SortFunc(out, func(a, b Device) int { return bytes.Compare(a.MAC[:], b.MAC[:]) })
	return out, nil
}

// PutDevice stores d, keeping the last fetch of the device it replaces.
func (s *MemStore) PutDevice(ctx context.Context, d Device) error {
	if err := d.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d = d.Clone()
	if len(d.Settings) == 0 {
		d.Settings = nil
	}
	d.LastFetch, d.LastIP, d.LastUserAgent = s.devices[d.MAC].LastFetch, s.devices[d.MAC].LastIP, s.devices[d.MAC].LastUserAgent
	s.devices[d.MAC] = d
	delete(s.unknown, d.MAC)
	return nil
}

// DeleteDevice removes the device with MAC mac.
func (s *MemStore) DeleteDevice(ctx context.Context, mac MAC) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.devices[mac]; !ok {
		return ErrNotFound
	}
	delete(s.devices, mac)
	s.resync = slices.DeleteFunc(s.resync, func(m MAC) bool { return m == mac })
	return nil
}

// RecordFetch records f on its device, or as an unknown device.
func (s *MemStore) RecordFetch(ctx context.Context, f Fetch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d, ok := s.devices[f.MAC]; ok {
		d.LastFetch, d.LastIP, d.LastUserAgent = f.Time, f.IP, truncate(f.UserAgent, maxAgent)
		s.devices[f.MAC] = d
		return nil
	}
	u, ok := s.unknown[f.MAC]
	if !ok {
		u = UnknownDevice{MAC: f.MAC, FirstSeen: f.Time}
	}
	u.LastSeen, u.IP, u.UserAgent, u.Count = f.Time, f.IP, truncate(f.UserAgent, maxAgent), u.Count+1
	if f.Model != "" {
		u.Model = f.Model
	}
	s.unknown[f.MAC] = u
	return nil
}

// UnknownDevices returns the unknown devices, by MAC.
func (s *MemStore) UnknownDevices(ctx context.Context) ([]UnknownDevice, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]UnknownDevice, 0, len(s.unknown))
	for _, u := range s.unknown {
		out = append(out, u)
	}
	slices.SortFunc(out, func(a, b UnknownDevice) int { return bytes.Compare(a.MAC[:], b.MAC[:]) })
	return out, nil
}

// RequestResync queues a resync of the device with MAC mac.
func (s *MemStore) RequestResync(ctx context.Context, mac MAC) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.devices[mac]; !ok {
		return ErrNotFound
	}
	if !slices.Contains(s.resync, mac) {
		s.resync = append(s.resync, mac)
	}
	return nil
}

// TakeResyncs returns the queued resyncs and empties the queue.
func (s *MemStore) TakeResyncs(ctx context.Context) ([]MAC, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.resync
	s.resync = nil
	return out, nil
}

// truncate cuts s to at most n bytes, on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:n]
}
