package enum

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind: every
// DNS server the tests start must be shut down.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
