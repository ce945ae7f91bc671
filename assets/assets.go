// Package assets embeds what the binary carries: the icon, and (with the
// workbench) the demo model, demo datasets and sample run configs.
package assets

import _ "embed"

// Icon is the application icon, drawn by tools/mkicon.
//
//go:embed icon.png
var Icon []byte
