package routing_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind: every
// Router, server, user agent and call in these tests must clean up.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
