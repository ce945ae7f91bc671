// Package ui holds Fynetune's Fyne screens and widgets: the model and
// dataset panes, the run configuration with its memory estimate, training
// with live charts (gonum/plot, rendered off the UI goroutine), the runs
// list, the chat pane and the Export menu.
//
// It contains no training logic (that is package app and below) and imports
// no GL driver, so its tests run with CGO_ENABLED=0 on fyne.io/fyne/v2/test.
// What needs cgo or the platform (native file dialogs, the export code) is
// passed in through Options by package main.
package ui
