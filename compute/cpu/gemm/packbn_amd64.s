//go:build amd64 && !purego

#include "textflag.h"

// func packBNAVX2(kc, np int, src *float32, ldb int, dst *float32)
// For p < kc, q < g: dst[(q·kc + p)·16 + c] = src[p·ldb + q·16 + c], c < 16:
// g panels of 16 columns of a row-major B, each stored kc rows deep.
TEXT ·packBNAVX2(SB), NOSPLIT, $0-40
	MOVQ kc+0(FP), CX
	MOVQ np+8(FP), DX
	MOVQ src+16(FP), SI
	MOVQ ldb+24(FP), R8
	SHLQ $2, R8             // bytes per row of B
	MOVQ dst+32(FP), DI
	MOVQ CX, R9
	SHLQ $6, R9             // bytes per panel: kc·16·4
	TESTQ CX, CX
	JZ   done
	TESTQ DX, DX
	JZ   done

row:
	MOVQ SI, R10
	MOVQ DI, R11
	MOVQ DX, R12

panel:
	VMOVUPS (R10), Y0
	VMOVUPS 32(R10), Y1
	VMOVUPS Y0, (R11)
	VMOVUPS Y1, 32(R11)
	ADDQ $64, R10
	ADDQ R9, R11
	DECQ R12
	JNZ  panel

	ADDQ R8, SI
	ADDQ $64, DI
	DECQ CX
	JNZ  row

done:
	VZEROUPPER
	RET
