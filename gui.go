package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"runtime"
	"strconv"
	"strings"

	"fyne.io/fyne/v2"
	fyneapp "fyne.io/fyne/v2/app"
	"github.com/sqweek/dialog"

	"github.com/fynetune/fynetune/app"
	"github.com/fynetune/fynetune/assets"
	"github.com/fynetune/fynetune/compute/gl"
	"github.com/fynetune/fynetune/ui"
)

// runGUI opens the workbench window and returns when it closes. It opens
// on the embedded demo the first time, or always with FYNETUNE_DEMO=1.
//
// FYNETUNE_E2E=1 scripts it for the end-to-end test: open the demo, train
// FYNETUNE_E2E_STEPS steps (default 5), write a screenshot of the window to
// FYNETUNE_E2E_SCREENSHOT, stop the run and quit. Settings then live in
// memory only, so the person's own preferences are not touched.
func runGUI() (status int) {
	if (runtime.GOOS == "linux" || strings.HasSuffix(runtime.GOOS, "bsd")) && os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
		fmt.Fprintln(os.Stderr, "fynetune: no display (neither DISPLAY nor WAYLAND_DISPLAY is set), so the window cannot open here.\n"+
			"Run it on a desktop, under xvfb-run, or use the command line: fynetune --help")
		return 1
	}
	defer func() {
		// the windowing library panics when it cannot start (no OpenGL,
		// a display that refuses the connection)
		if r := recover(); r != nil {
			fmt.Fprintf(os.Stderr, "fynetune: the window could not start: %v\nThe command line works without it: fynetune --help\n", r)
			status = 1
		}
	}()
	a := fyneapp.NewWithID("io.fynetune.app")
	// The GL backend's last-resort context is a hidden GLFW window: GLFW
	// creates and destroys windows on Fyne's thread, never the backend's.
	gl.SetMainThread(fyne.DoAndWait)
	defer gl.SetMainThread(nil)
	a.SetIcon(fyne.NewStaticResource("icon.png", assets.Icon))
	opts := ui.Options{Dialogs: nativeDialogs{}, Export: export, Version: a.Metadata().Version,
		Demo: os.Getenv("FYNETUNE_DEMO") == "1"}
	if os.Getenv("FYNETUNE_E2E") == "1" {
		steps, _ := strconv.Atoi(os.Getenv("FYNETUNE_E2E_STEPS"))
		if steps <= 0 {
			steps = 5
		}
		opts.E2E = &ui.E2E{Steps: steps, Screenshot: os.Getenv("FYNETUNE_E2E_SCREENSHOT"), Log: log.Printf}
		opts.Store = &app.MemStore{}
	}
	ui.Run(a, opts)
	return 0
}

// nativeDialogs shows the platform's file choosers (GTK on Linux) through
// sqweek/dialog. Without GTK or a display the library panics; the window
// recovers and uses Fyne's own dialogs.
type nativeDialogs struct{}

func nativeErr(err error) error {
	if errors.Is(err, dialog.ErrCancelled) {
		return ui.ErrCancelled
	}
	return err
}

// OpenFolder asks for a folder with the native chooser.
func (nativeDialogs) OpenFolder(title, start string) (string, error) {
	p, err := dialog.Directory().Title(title).SetStartDir(start).Browse()
	return p, nativeErr(err)
}

// OpenFile asks for a file, suggesting the extensions exts.
func (nativeDialogs) OpenFile(title, start string, exts ...string) (string, error) {
	b := dialog.File().Title(title).SetStartDir(start)
	if len(exts) > 0 {
		b = b.Filter("Supported files", exts...).Filter("All files", "*")
	}
	p, err := b.Load()
	return p, nativeErr(err)
}

// SaveFile asks for a path to write, suggesting name.
func (nativeDialogs) SaveFile(title, start, name string) (string, error) {
	p, err := dialog.File().Title(title).SetStartDir(start).SetStartFile(name).Save()
	return p, nativeErr(err)
}

// export runs an Export menu action with the export code of package app.
func export(ctx context.Context, req ui.ExportRequest, logf func(string)) (*ui.ExportResult, error) {
	rep, err := app.ExportFromDirs(ctx, req.ModelDir, req.AdapterDir, req.Backend, app.ExportOptions{
		Format: req.Format, Out: req.Out, DType: req.DType, Quant: req.Quant, NoVerify: !req.Verify,
		Log: func(format string, a ...any) { logf(fmt.Sprintf(format, a...)) },
	})
	if err != nil {
		return nil, err
	}
	res := &ui.ExportResult{Out: rep.Out, Notes: append(append([]string(nil), rep.Warnings...), rep.Notes...)}
	for _, f := range rep.Files {
		res.Files = append(res.Files, fmt.Sprintf("%s (%s)", f.Name, app.FormatBytes(f.Bytes)))
	}
	if v := rep.Verify; v != nil {
		res.Verified = v.Passed
		res.Verification = fmt.Sprintf("%s: largest logit difference %.3g over %d tokens", v.Method, v.MaxAbsLogitDiff, v.Tokens)
		if v.Tolerance > 0 {
			res.Verification += fmt.Sprintf(" (tolerance %g)", v.Tolerance)
		}
	}
	return res, nil
}
