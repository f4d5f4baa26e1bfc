// Command vibecoder is the Vibe Coder server and its admin tool in one binary.
package main

import (
	"os"

	"github.com/vibecoder/vibecoder/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}
