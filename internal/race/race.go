//go:build race

// Package race tells tests whether the race detector is on: sync.Pool then
// drops items at random, so allocation counts of code that pools mean
// nothing.
package race

// Enabled is true when the binary was built with -race.
const Enabled = true
