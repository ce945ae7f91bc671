//go:build amd64 && !purego

#include "textflag.h"

// func prefetchL2(p *float32, lines int)
//
// Asks for the lines 64-byte cache lines from p to be brought into L2.
TEXT ·prefetchL2(SB), NOSPLIT, $0-16
	MOVQ p+0(FP), AX
	MOVQ lines+8(FP), CX
	TESTQ CX, CX
	JLE done
loop:
	PREFETCHT1 (AX)
	ADDQ $64, AX
	DECQ CX
	JNZ loop
done:
	RET
