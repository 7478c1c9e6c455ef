// Package provisioningtest is the conformance suite every
// provisioning.Store (and ResyncQueue) passes.
package provisioningtest

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/palio-voip/palio/provisioning"
)

// mac parses a MAC the suite knows to be good.
func mac(s string) provisioning.MAC {
	m, err := provisioning.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

// Devices are the suite's devices: the seed talk's SNOM 710, SNOM 760 and
// Cisco SPA112, every field of the first set.
func Devices() []provisioning.Device {
	return []provisioning.Device{
		{
			MAC: mac("0004137441d7"), Model: "snom710", Name: "Telefono di PROVA", Owner: "Servizio reti",
			Lines: []provisioning.Line{
				{User: "5009", DisplayName: "Prova", Password: "unisi5009"},
				{User: "5002", Domain: "voip.unisi.it", DisplayName: "Michele Pinassi"},
			},
			Keys:        []provisioning.Key{{Number: "5003", Label: "Segreteria"}, {Number: "5004"}},
			FirmwareURL: "http://prov.unisi.it/firmware/snom710-8.7.5.35.bin",
			Settings:    map[string]string{"language": "Italiano", "tone_scheme": "ITA"},
			AuthSecret:  "s3cret-710",
		},
		{MAC: mac("000413a1b2c3"), Model: "snom760", Name: "Michele Pinassi", Lines: []provisioning.Line{{User: "5002"}}},
		{MAC: mac("00e16d4a12f3"), Model: "spa112", Name: "ATA di test", Lines: []provisioning.Line{{User: "5009"}}},
	}
}

// TestStore checks a Store: devices stored with every field and read
// back, listed by MAC, replaced whole (lines, keys and settings of the
// old record gone) keeping their last fetch, deleted; invalid devices
// refused; fetches recorded on known devices and as unknown devices,
// counted, and an unknown device gone once added; concurrent fetches
// counted. When the store is a ResyncQueue too, resync requests are
// queued once, taken once, and refused for unknown devices. newStore
// returns an empty store for each call.
func TestStore(t *testing.T, newStore func(t *testing.T) provisioning.Store) {
	ctx := context.Background()
	devs := Devices()
	t.Run("round trip", func(t *testing.T) {
		s := newStore(t)
		for _, d := range devs {
			if err := s.PutDevice(ctx, d); err != nil {
				t.Fatalf("put %s: %v", d.MAC, err)
			}
		}
		for _, d := range devs {
			got, err := s.Device(ctx, d.MAC)
			if err != nil {
				t.Fatalf("device %s: %v", d.MAC, err)
			}
			if !reflect.DeepEqual(got, d) {
				t.Errorf("device %s:\ngot  %+v\nwant %+v", d.MAC, got, d)
			}
		}
		list, err := s.Devices(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := []provisioning.MAC{devs[0].MAC, devs[1].MAC, devs[2].MAC} // 000413…, 000413a…, 00e1…
		var got []provisioning.MAC
		for _, d := range list {
			got = append(got, d.MAC)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Devices: got %v, want %v", got, want)
		}
		if !reflect.DeepEqual(list[0], devs[0]) {
			t.Errorf("Devices()[0]:\ngot  %+v\nwant %+v", list[0], devs[0])
		}
	})
	t.Run("not found", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.Device(ctx, devs[0].MAC); !errors.Is(err, provisioning.ErrNotFound) {
			t.Errorf("Device of an empty store: %v, want ErrNotFound", err)
		}
		if err := s.DeleteDevice(ctx, devs[0].MAC); !errors.Is(err, provisioning.ErrNotFound) {
			t.Errorf("DeleteDevice of an empty store: %v, want ErrNotFound", err)
		}
		if list, err := s.Devices(ctx); err != nil || len(list) != 0 {
			t.Errorf("Devices of an empty store: %v %v", list, err)
		}
	})
	t.Run("replaced and deleted", func(t *testing.T) {
		s := newStore(t)
		if err := s.PutDevice(ctx, devs[0]); err != nil {
			t.Fatal(err)
		}
		at := time.Date(2017, 5, 2, 8, 46, 50, 0, time.UTC)
		if err := s.RecordFetch(ctx, provisioning.Fetch{MAC: devs[0].MAC, Time: at, IP: "10.1.2.3", UserAgent: "Mozilla/4.0 (compatible; snom710-SIP 8.7.5.35)"}); err != nil {
			t.Fatal(err)
		}
		less := provisioning.Device{MAC: devs[0].MAC, Model: "snomd735", Name: "Nuovo", Lines: []provisioning.Line{{User: "5004"}}}
		if err := s.PutDevice(ctx, less); err != nil {
			t.Fatal(err)
		}
		got, err := s.Device(ctx, less.MAC)
		if err != nil {
			t.Fatal(err)
		}
		if !got.LastFetch.Equal(at) || got.LastIP != "10.1.2.3" || got.LastUserAgent == "" {
			t.Errorf("the replaced device lost its last fetch: %v %q %q", got.LastFetch, got.LastIP, got.LastUserAgent)
		}
		got.LastFetch, got.LastIP, got.LastUserAgent = time.Time{}, "", ""
		if !reflect.DeepEqual(got, less) {
			t.Errorf("after replacing:\ngot  %+v\nwant %+v", got, less)
		}
		if err := s.DeleteDevice(ctx, less.MAC); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Device(ctx, less.MAC); !errors.Is(err, provisioning.ErrNotFound) {
			t.Errorf("a deleted device: %v, want ErrNotFound", err)
		}
		if err := s.PutDevice(ctx, less); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Device(ctx, less.MAC); !got.LastFetch.IsZero() {
			t.Errorf("a device deleted and added again kept its last fetch %v", got.LastFetch)
		}
	})
	t.Run("refused", func(t *testing.T) {
		s := newStore(t)
		for _, bad := range []provisioning.Device{
			{Model: "snom710"},
			{MAC: devs[0].MAC, Model: "snom999"},
			{MAC: devs[0].MAC, Model: "spa112", Lines: []provisioning.Line{{User: "5001"}, {User: "5002"}, {User: "5003"}}},
			{MAC: devs[0].MAC, Model: "snom710", Lines: []provisioning.Line{{User: "50 02"}}},
			{MAC: devs[0].MAC, Model: "snom710", Keys: []provisioning.Key{{Number: "5003|x"}}},
			{MAC: devs[0].MAC, Model: "snom710", Settings: map[string]string{"bad name": "x"}},
			{MAC: devs[0].MAC, Model: "snom710", Name: "line\nbreak"},
			{MAC: devs[0].MAC, Model: "snom710", FirmwareURL: "ftp://x/y"},
			{MAC: devs[0].MAC, Model: "snom710", AuthSecret: "short"},
		} {
			if err := s.PutDevice(ctx, bad); err == nil {
				t.Errorf("PutDevice(%+v) was accepted", bad)
			}
		}
		if list, _ := s.Devices(ctx); len(list) != 0 {
			t.Errorf("refused devices were stored: %+v", list)
		}
	})
	t.Run("fetches", func(t *testing.T) {
		s := newStore(t)
		if err := s.PutDevice(ctx, devs[1]); err != nil {
			t.Fatal(err)
		}
		t0 := time.Date(2017, 5, 2, 8, 34, 14, 0, time.UTC)
		if err := s.RecordFetch(ctx, provisioning.Fetch{MAC: devs[1].MAC, Time: t0, IP: "10.0.0.7", UserAgent: "snom760"}); err != nil {
			t.Fatal(err)
		}
		d, _ := s.Device(ctx, devs[1].MAC)
		if !d.LastFetch.Equal(t0) || d.LastIP != "10.0.0.7" || d.LastUserAgent != "snom760" {
			t.Errorf("last fetch: %v %q %q", d.LastFetch, d.LastIP, d.LastUserAgent)
		}
		if u, _ := s.UnknownDevices(ctx); len(u) != 0 {
			t.Errorf("a known device's fetch made unknown devices: %+v", u)
		}
		stranger := mac("001565aabbcc")
		for i := range 3 {
			f := provisioning.Fetch{MAC: stranger, Time: t0.Add(time.Duration(i) * time.Minute), IP: "10.0.0.9", UserAgent: "Yealink SIP-T46S 66.85.0.5 00:15:65:aa:bb:cc", Model: "t46s"}
			if i == 2 {
				f.Model = "" // a later fetch not naming the model keeps it
			}
			if err := s.RecordFetch(ctx, f); err != nil {
				t.Fatal(err)
			}
		}
		u, err := s.UnknownDevices(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := provisioning.UnknownDevice{MAC: stranger, Model: "t46s", IP: "10.0.0.9", UserAgent: "Yealink SIP-T46S 66.85.0.5 00:15:65:aa:bb:cc", FirstSeen: t0, LastSeen: t0.Add(2 * time.Minute), Count: 3}
		if len(u) != 1 || !u[0].FirstSeen.Equal(want.FirstSeen) || !u[0].LastSeen.Equal(want.LastSeen) {
			t.Fatalf("unknown devices: got %+v, want %+v", u, want)
		}
		u[0].FirstSeen, u[0].LastSeen = want.FirstSeen, want.LastSeen
		if !reflect.DeepEqual(u[0], want) {
			t.Errorf("unknown device:\ngot  %+v\nwant %+v", u[0], want)
		}
		if err := s.PutDevice(ctx, provisioning.Device{MAC: stranger, Model: "t46s", Lines: []provisioning.Line{{User: "5004"}}}); err != nil {
			t.Fatal(err)
		}
		if u, _ := s.UnknownDevices(ctx); len(u) != 0 {
			t.Errorf("an added device is still unknown: %+v", u)
		}
	})
	t.Run("concurrent fetches", func(t *testing.T) {
		s := newStore(t)
		stranger := mac("001565aabbcd")
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := s.RecordFetch(ctx, provisioning.Fetch{MAC: stranger, Time: time.Unix(int64(1e9+i), 0), IP: "10.0.0.9"}); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if u, _ := s.UnknownDevices(ctx); len(u) != 1 || u[0].Count != 8 {
			t.Errorf("8 concurrent fetches: %+v", u)
		}
	})
	if _, ok := newStore(t).(provisioning.ResyncQueue); !ok {
		return
	}
	t.Run("resync queue", func(t *testing.T) {
		s := newStore(t)
		q := s.(provisioning.ResyncQueue)
		if err := q.RequestResync(ctx, devs[0].MAC); !errors.Is(err, provisioning.ErrNotFound) {
			t.Errorf("resync of an unknown device: %v, want ErrNotFound", err)
		}
		for _, d := range devs[:2] {
			if err := s.PutDevice(ctx, d); err != nil {
				t.Fatal(err)
			}
		}
		for _, m := range []provisioning.MAC{devs[0].MAC, devs[1].MAC, devs[0].MAC} {
			if err := q.RequestResync(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
		got, err := q.TakeResyncs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || !containsAll(got, devs[0].MAC, devs[1].MAC) {
			t.Errorf("taken: %v, want %v and %v once each", got, devs[0].MAC, devs[1].MAC)
		}
		if got, _ := q.TakeResyncs(ctx); len(got) != 0 {
			t.Errorf("taken twice: %v", got)
		}
		if err := q.RequestResync(ctx, devs[1].MAC); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteDevice(ctx, devs[1].MAC); err != nil {
			t.Fatal(err)
		}
		if got, _ := q.TakeResyncs(ctx); len(got) != 0 {
			t.Errorf("a deleted device's request was taken: %v", got)
		}
	})
}

func containsAll(list []provisioning.MAC, want ...provisioning.MAC) bool {
	for _, w := range want {
		found := false
		for _, m := range list {
			found = found || m == w
		}
		if !found {
			return false
		}
	}
	return true
}
