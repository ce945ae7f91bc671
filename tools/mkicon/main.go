// Command mkicon draws Fynetune's icon (assets/icon.png): a falling loss
// curve on a rounded tile. Run from the repository root: go run ./tools/mkicon
package main

import (
	"image"
	"image/color"
	"image/png"
	"log"
	"math"
	"os"
)

func main() {
	const n = 256
	img := image.NewNRGBA(image.Rect(0, 0, n, n))
	top, bottom := color.NRGBA{0x2b, 0x6c, 0xde, 0xff}, color.NRGBA{0x6a, 0x3b, 0xc9, 0xff}
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			if !inRounded(float64(x)+0.5, float64(y)+0.5, n, 48) {
				continue
			}
			t := float64(y) / n
			img.Set(x, y, color.NRGBA{
				uint8(float64(top.R)*(1-t) + float64(bottom.R)*t),
				uint8(float64(top.G)*(1-t) + float64(bottom.G)*t),
				uint8(float64(top.B)*(1-t) + float64(bottom.B)*t), 0xff})
		}
	}
	// loss curve: y = a·exp(-x/τ) + floor, drawn as a thick white line
	for i := 0; i <= 2000; i++ {
		u := float64(i) / 2000
		x := 40 + u*176
		y := 56 + 140*(1-math.Exp(-u*4)) + 8*math.Sin(u*40)*math.Exp(-u*3)
		for dy := -7.0; dy <= 7; dy++ {
			for dx := -7.0; dx <= 7; dx++ {
				if dx*dx+dy*dy <= 49 {
					img.Set(int(x+dx), int(y+dy), color.NRGBA{0xff, 0xff, 0xff, 0xff})
				}
			}
		}
	}
	f, err := os.Create("assets/icon.png")
	if err != nil {
		log.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
}

func inRounded(x, y, n, r float64) bool {
	cx := math.Max(r, math.Min(n-r, x))
	cy := math.Max(r, math.Min(n-r, y))
	return (x-cx)*(x-cx)+(y-cy)*(y-cy) <= r*r
}
