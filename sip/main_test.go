package sip_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind: every
// server, user agent and call in these tests must clean up after itself.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
