// Command fynetune is the Fynetune workbench. Without arguments it opens the
// window; with a subcommand (generate, eval, inspect, ...) it runs headless.
package main

import (
	"os"

	"github.com/fynetune/fynetune/cli"
)

func main() {
	os.Exit(cli.Run(os.Args[1:], &cli.Env{Stdout: os.Stdout, Stderr: os.Stderr}))
}
