// Package ui holds Fynetune's Fyne screens and widgets: model and dataset
// panes, run configuration, live training charts, chat and export menus.
// It contains no training logic (that is package app and below) and imports
// no GL driver, so its tests run with CGO_ENABLED=0. The window arrives with
// the workbench issue; until then `fynetune` runs headless only.
package ui
