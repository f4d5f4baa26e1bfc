//go:build !race

package faultstest

const raceEnabled = false
