// Command fynetune is the Fynetune workbench. Without arguments it opens the
// window; with a subcommand (train, generate, eval, export, inspect, ...) it
// runs headless.
package main

import (
	"os"

	"github.com/fynetune/fynetune/cli"
)

func main() {
	if len(os.Args) == 1 {
		os.Exit(runGUI())
	}
	os.Exit(cli.Run(os.Args[1:], &cli.Env{Stdout: os.Stdout, Stderr: os.Stderr}))
}
