//go:build !amd64 || purego

package cpu

func geluArg(e, x []float32)            { geluArgGo(e, x) }
func geluOut(out, x, e []float32)       { geluOutGo(out, x, e) }
func geluBack(dx, dout, x, e []float32) { geluBackGo(dx, dout, x, e) }
