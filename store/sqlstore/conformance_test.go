package sqlstore_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/palio-voip/palio/alias"
	"github.com/palio-voip/palio/alias/aliastest"
	"github.com/palio-voip/palio/dialplan"
	"github.com/palio-voip/palio/dialplan/dialplantest"
	"github.com/palio-voip/palio/features"
	"github.com/palio-voip/palio/features/featurestest"
	"github.com/palio-voip/palio/permission"
	"github.com/palio-voip/palio/permission/permissiontest"
	"github.com/palio-voip/palio/presence"
	"github.com/palio-voip/palio/presence/presencetest"
	"github.com/palio-voip/palio/registrar"
	"github.com/palio-voip/palio/registrar/registrartest"
	"github.com/palio-voip/palio/routing"
	"github.com/palio-voip/palio/routing/routingtest"
	"github.com/palio-voip/palio/store/mysql"
	"github.com/palio-voip/palio/store/sqlite"
	"github.com/palio-voip/palio/store/sqlstore"
	"github.com/palio-voip/palio/store/storetest"
)

// The stores' conformance suites, on SQLite always and on MariaDB when
// PALIO_MYSQL_DSN is set: the same tests the memory stores pass.

func TestDialplanStore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(testing.TB) *sqlstore.DB) {
		dialplantest.TestStore(t, func(t *testing.T) dialplan.Store { return open(t).Dialplan() })
	})
}

func TestLocationStore(t *testing.T) {
	for _, mode := range []struct {
		name string
		opts sqlstore.LocationOptions
	}{
		{"write-through", sqlstore.LocationOptions{}},
		// Every change still in memory (List and DeleteExpired write them).
		{"write-back, long", sqlstore.LocationOptions{WriteBack: time.Hour}},
		// Rounds of writes under the suite's feet.
		{"write-back, 5ms", sqlstore.LocationOptions{WriteBack: 5 * time.Millisecond}},
		// Lookups from the mirror alone, loaded at the start.
		{"mirror", sqlstore.LocationOptions{Mirror: true, CacheTTL: -1}},
		{"mirror, write-back", sqlstore.LocationOptions{Mirror: true, WriteBack: time.Hour}},
		// Writes that bump the change counter.
		{"announce", sqlstore.LocationOptions{Announce: true}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, open func(testing.TB) *sqlstore.DB) {
				registrartest.TestStore(t, func(t *testing.T) registrar.Store {
					s := open(t).Location(mode.opts)
					t.Cleanup(s.Close)
					if mode.opts.Mirror {
						if _, err := s.Reload(t.Context()); err != nil {
							t.Fatal(err)
						}
					}
					return s
				})
			})
		})
	}
}

func TestSubscriberStore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(testing.TB) *sqlstore.DB) {
		registrartest.TestSubscribers(t, func(t *testing.T, accounts ...registrar.Subscriber) registrar.Subscribers {
			s := open(t).Subscribers(0)
			for _, a := range accounts {
				if err := s.AddSubscriber(t.Context(), a); err != nil {
					t.Fatal(err)
				}
			}
			return s
		})
	})
}

func TestAliasStore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(testing.TB) *sqlstore.DB) {
		aliastest.TestStore(t, func(t *testing.T) alias.Store { return open(t).Aliases() })
	})
}

func TestAddressStore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(testing.TB) *sqlstore.DB) {
		permissiontest.TestAddressStore(t, func(t *testing.T) permission.AddressStore { return open(t).Addresses() })
	})
}

func TestRoutingStore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(testing.TB) *sqlstore.DB) {
		routingtest.TestStore(t, func(t *testing.T, seed routing.Data) routing.Store {
			s := open(t).Routing()
			if err := s.Replace(t.Context(), seed); err != nil {
				t.Fatal(err)
			}
			return s
		})
	})
}

func TestFeatureStore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(testing.TB) *sqlstore.DB) {
		featurestest.TestStore(t, func(t *testing.T) features.Store { return open(t).Features() })
	})
}

func TestPresenceStore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(testing.TB) *sqlstore.DB) {
		presencetest.TestStore(t, func(t *testing.T) presence.Store { return open(t).Presence() })
	})
}

// The nodes are separate handles (pools) on one database, opened one after
// the other as nodes starting up would be.
func TestSecretStore(t *testing.T) {
	ctx := context.Background()
	t.Run("sqlite", func(t *testing.T) {
		registrartest.TestSecrets(t, func(t *testing.T, n int) []registrar.SecretStore {
			path := filepath.Join(t.TempDir(), "palio.db")
			var nodes []registrar.SecretStore
			for range n {
				db, err := sqlite.Open(ctx, path)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				nodes = append(nodes, db.Secrets())
			}
			return nodes
		})
	})
	t.Run("mysql", func(t *testing.T) {
		storetest.MySQLDSN(t) // skips with a clear message when unset
		registrartest.TestSecrets(t, func(t *testing.T, n int) []registrar.SecretStore {
			dsn := storetest.MySQLDSN(t)
			var nodes []registrar.SecretStore
			for range n {
				db, err := mysql.Open(ctx, dsn)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				nodes = append(nodes, db.Secrets())
			}
			return nodes
		})
	})
}
