// Package faults is the fault-injection suite: its tests run the real vibecoder binary
// as several processes (serve, worker, migrate) against a PostgreSQL cluster and a
// Redis server of their own, then break those dependencies — start everything at once
// on an empty database, kill and restart Redis under traffic, stop and start
// PostgreSQL — and check what clients, probes, logs and the database see. The harness
// is internal/faults/faultstest; docs/OPERATIONS.md ("Dependencies and readiness") is
// the behaviour these tests hold the processes to.
package faults
