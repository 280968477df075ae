/*
 * Interrupt entry of the IPI ping-pong guest (pingpong.c).
 *
 * pingpong.c writes `ba ext_vector` at the external-interrupt vector 0x500 (the program runs
 * in real mode, so the vector is taken at that address; LPCR[ILE] is set with H_SET_MODE so
 * it runs little-endian) and the `dec_vector` words at 0x900.
 *
 * ext_vector saves the volatile state below the interrupted code's stack (past the ELFv2
 * 288-byte protected zone, which hcall_raw uses), calls ext_irq(cpu) with the vCPU index
 * kept in r13, and returns with rfid to the interrupted code with MSR[EE] cleared again: the
 * program only enables interrupts inside H_CEDE (which sets MSR[EE]).
 */

#define FRAME (288 + 320)

	.text
	.globl ext_vector
	.balign 16
ext_vector:
	stdu	r1, -FRAME(r1)
	std	r0, 32(r1)
	std	r2, 40(r1)
	std	r3, 48(r1)
	std	r4, 56(r1)
	std	r5, 64(r1)
	std	r6, 72(r1)
	std	r7, 80(r1)
	std	r8, 88(r1)
	std	r9, 96(r1)
	std	r10, 104(r1)
	std	r11, 112(r1)
	std	r12, 120(r1)
	mflr	r0
	std	r0, 128(r1)
	mfctr	r0
	std	r0, 136(r1)
	mfcr	r0
	std	r0, 144(r1)
	mfxer	r0
	std	r0, 152(r1)
	mfsrr0	r0
	std	r0, 160(r1)
	mfsrr1	r0
	std	r0, 168(r1)
	/* TOC from the PC (the same image, so the same value the interrupted code has). */
	bcl	20, 31, 1f
1:	mflr	r12
	addis	r2, r12, (.TOC. - 1b)@ha
	addi	r2, r2, (.TOC. - 1b)@l
	mr	r3, r13
	bl	ext_irq
	ld	r0, 160(r1)
	mtsrr0	r0
	ld	r0, 168(r1)
	li	r3, 0
	ori	r3, r3, 0x8000		/* MSR[EE] */
	andc	r0, r0, r3
	mtsrr1	r0
	ld	r0, 152(r1)
	mtxer	r0
	ld	r0, 144(r1)
	mtcr	r0
	ld	r0, 136(r1)
	mtctr	r0
	ld	r0, 128(r1)
	mtlr	r0
	ld	r0, 32(r1)
	ld	r2, 40(r1)
	ld	r3, 48(r1)
	ld	r4, 56(r1)
	ld	r5, 64(r1)
	ld	r6, 72(r1)
	ld	r7, 80(r1)
	ld	r8, 88(r1)
	ld	r9, 96(r1)
	ld	r10, 104(r1)
	ld	r11, 112(r1)
	ld	r12, 120(r1)
	addi	r1, r1, FRAME
	rfid

/*
 * Decrementer vector body, copied to 0x900 (position independent, no branch): pushes the
 * decrementer far away and returns. The program re-arms the decrementer before every
 * H_CEDE, so this only runs if a cede outlives it.
 */
	.globl dec_vector, dec_vector_end
	.balign 4
dec_vector:
	mtsprg	3, r3
	lis	r3, 0x7fff
	ori	r3, r3, 0xffff
	mtdec	r3
	mfsprg	r3, 3
	rfid
dec_vector_end:
