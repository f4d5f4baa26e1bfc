// Package procmem keeps the server's resident set to what it uses: once a process
// has started, the executable's code and read-only data that only start-up needed
// (package initialisers, migrations, route and template setup) are given back to
// the kernel.
package procmem

// Released is what ReleaseStartupPages gave back: the read-only mappings of the
// executable it advised and the resident bytes they held before.
type Released struct {
	Mappings int
	Bytes    int64
}
