//go:build !unix

package procs

import "time"

// processCPU is not available here: the Tuner leaves GOMAXPROCS alone.
func processCPU() time.Duration { return 0 }
