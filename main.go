// Command fynetune is the Fynetune workbench. Without arguments it opens the
// window; with a subcommand (train, generate, eval, export, inspect, ...) it
// runs headless.
package main

import (
	"os"
	"runtime"

	"github.com/fynetune/fynetune/cli"
)

func main() {
	if len(os.Args) == 1 {
		os.Exit(runGUI())
	}
	// The GUI packages lock the main goroutine to the main OS thread in
	// their inits (Fyne's GLFW driver and systray, one lock each), which
	// only the window needs. Headless commands unlock it: a locked goroutine
	// that waits for the matrix-product workers many times a step is woken
	// through an OS-thread hand-off each time (~8% of a 124M training step
	// on two cores). Unlocking more often than locked is a no-op.
	for range 8 {
		runtime.UnlockOSThread()
	}
	os.Exit(cli.Run(os.Args[1:], &cli.Env{Stdout: os.Stdout, Stderr: os.Stderr}))
}
