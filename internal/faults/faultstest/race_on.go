//go:build race

package faultstest

// raceEnabled: the tests run with -race, so the binary is built with it too.
const raceEnabled = true
