//go:build !amd64 || purego

package cpu

func geluArg(e, x []float32)            { geluArgGo(e, x) }
func geluOut(out, x, e []float32)       { geluOutGo(out, x, e) }
func geluBack(dx, dout, x, e []float32) { geluBackGo(dx, dout, x, e) }

func negate(e, g []float32)                            { negateGo(e, g) }
func siluMulOut(out, g, up, e []float32)               { siluMulOutGo(out, g, up, e) }
func siluMulBack(dgate, dup, dout, g, up, e []float32) { siluMulBackGo(dgate, dup, dout, g, up, e) }
