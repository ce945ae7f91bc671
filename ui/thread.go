package ui

import (
	"sync"

	"fyne.io/fyne/v2"
)

// uiMu serializes the window's updates from other goroutines. With a real
// driver fyne.Do already runs them one at a time on the UI goroutine and
// the lock is never contended; the test driver runs fyne.Do's function at
// once on the calling goroutine, and the lock keeps two of them (or one and
// the test's own taps, which take it too) from running together.
var uiMu sync.Mutex

// do runs f on the UI goroutine. f must not call do or doAndWait.
func do(f func()) {
	fyne.Do(func() {
		uiMu.Lock()
		defer uiMu.Unlock()
		f()
	})
}

// doAndWait runs f on the UI goroutine and waits for it. Call it only
// from goroutines other than the UI's.
func doAndWait(f func()) {
	fyne.DoAndWait(func() {
		uiMu.Lock()
		defer uiMu.Unlock()
		f()
	})
}
