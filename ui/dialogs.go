package ui

import (
	"errors"
	"os"
	"path/filepath"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/storage"
)

// ErrCancelled is what a Dialogs method returns when the person cancelled.
var ErrCancelled = errors.New("cancelled")

// ErrNoNativeDialogs is what a Dialogs method returns when the native
// dialogs cannot be shown (no GTK, no display); the window then uses Fyne's
// own file dialogs.
var ErrNoNativeDialogs = errors.New("native file dialogs are not available")

// Dialogs shows the platform's file choosers. Every method blocks until the
// person chooses, so the window calls them off the UI goroutine and brings
// the result back with fyne.Do.
type Dialogs interface {
	// OpenFolder asks for an existing folder.
	OpenFolder(title, startDir string) (string, error)
	// OpenFile asks for an existing file; exts are the suggested
	// extensions without dots (all files may still be chosen).
	OpenFile(title, startDir string, exts ...string) (string, error)
	// SaveFile asks for a path to write (a file or a folder to create).
	SaveFile(title, startDir, name string) (string, error)
}

// chooseKind says what a chooser is for.
type chooseKind int

const (
	chooseFolder chooseKind = iota
	chooseFile
	chooseSave
)

// choose asks for a path with the native dialog off the UI goroutine and
// calls done on the UI goroutine with the result; cancelling calls nothing.
// When native dialogs are missing it falls back to Fyne's dialogs.
func (w *Workbench) choose(kind chooseKind, title, start, name string, exts []string, done func(string)) {
	if w.opts.Dialogs == nil {
		w.fyneChoose(kind, start, name, exts, done)
		return
	}
	d := w.opts.Dialogs
	go func() {
		var p string
		var err error
		func() {
			defer func() {
				// a native dialog library that panics (no display) must
				// not take the window down
				if r := recover(); r != nil {
					err = ErrNoNativeDialogs
				}
			}()
			switch kind {
			case chooseFolder:
				p, err = d.OpenFolder(title, start)
			case chooseFile:
				p, err = d.OpenFile(title, start, exts...)
			default:
				p, err = d.SaveFile(title, start, name)
			}
		}()
		do(func() {
			switch {
			case errors.Is(err, ErrCancelled):
			case errors.Is(err, ErrNoNativeDialogs):
				w.fyneChoose(kind, start, name, exts, done)
			case err != nil:
				w.showError(err)
			case p != "":
				done(p)
			}
		})
	}()
}

// fyneChoose shows Fyne's own file dialog.
func (w *Workbench) fyneChoose(kind chooseKind, start, name string, exts []string, done func(string)) {
	var fd *dialog.FileDialog
	switch kind {
	case chooseFolder:
		fd = dialog.NewFolderOpen(func(u fyne.ListableURI, err error) {
			if err != nil {
				w.showError(err)
			} else if u != nil {
				done(u.Path())
			}
		}, w.win)
	case chooseFile:
		fd = dialog.NewFileOpen(func(r fyne.URIReadCloser, err error) {
			if err != nil {
				w.showError(err)
			} else if r != nil {
				r.Close()
				done(r.URI().Path())
			}
		}, w.win)
		if len(exts) > 0 {
			var f []string
			for _, e := range exts {
				f = append(f, "."+e)
			}
			fd.SetFilter(storage.NewExtensionFileFilter(f))
		}
	default:
		fd = dialog.NewFileSave(func(wc fyne.URIWriteCloser, err error) {
			if err != nil {
				w.showError(err)
				return
			}
			if wc == nil {
				return
			}
			p := wc.URI().Path()
			wc.Close()
			// The save dialog creates an empty file; exports write a
			// folder there, so leave the name free.
			if st, err := os.Stat(p); err == nil && st.Size() == 0 && !st.IsDir() {
				os.Remove(p)
			}
			done(p)
		}, w.win)
		if name != "" {
			fd.SetFileName(name)
		}
	}
	if start != "" {
		dir := start
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			dir = filepath.Dir(dir)
		}
		if l, err := storage.ListerForURI(storage.NewFileURI(dir)); err == nil {
			fd.SetLocation(l)
		}
	}
	fd.Resize(fyne.NewSize(760, 520))
	fd.Show()
}
