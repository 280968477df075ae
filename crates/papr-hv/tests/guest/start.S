/*
 * Entry code of the conformance guests (ppc64le, ELFv2, position independent).
 *
 * Both machines enter the image at its first byte in 64-bit big-endian real mode with
 * r3/r4 = initrd and r5 = the client-interface entry. Secondary vCPUs started with RTAS
 * start-cpu enter `secondary_entry` the same way, with r3 = the value given to start-cpu
 * (here: the vCPU index). The first thing both do is run BE_TO_LE, a sequence written as
 * big-endian instruction words that turns MSR[LE] (and MSR[SF]) on with rfid and continues
 * with the little-endian code right after it.
 *
 * call_be() is the way back: it drops to 32-bit big-endian mode to run the firmware's
 * client-interface entry or the RTAS entry (both big-endian code ending in blr) with the
 * return address pointing at another BE_TO_LE sequence.
 */

#define STACK_SIZE 0x10000
#define MAX_CPUS 4

/*
 * Big-endian encodings (each checked with objdump -EB):
 *   7d6000a6  mfmsr  r11
 *   616b0001  ori    r11,r11,1          MSR[LE]
 *   39800001  li     r12,1
 *   798cf806  rldicr r12,r12,63,0       r12 = MSR[SF] (sldi)
 *   7d6b6378  or     r11,r11,r12
 *   429f0005  bcl    20,31,$+4
 *   7d8802a6  mflr   r12
 *   398c0014  addi   r12,r12,20         first instruction after the rfid
 *   7d9a03a6  mtsrr0 r12
 *   7d7b03a6  mtsrr1 r11
 *   4c000024  rfid
 * The words are stored byte-reversed because this file is assembled little-endian.
 */
.macro BE_WORD w
	.byte ((\w) >> 24) & 0xff, ((\w) >> 16) & 0xff, ((\w) >> 8) & 0xff, (\w) & 0xff
.endm
.macro BE_TO_LE
	BE_WORD 0x7d6000a6
	BE_WORD 0x616b0001
	BE_WORD 0x39800001
	BE_WORD 0x798cf806
	BE_WORD 0x7d6b6378
	BE_WORD 0x429f0005
	BE_WORD 0x7d8802a6
	BE_WORD 0x398c0014
	BE_WORD 0x7d9a03a6
	BE_WORD 0x7d7b03a6
	BE_WORD 0x4c000024
.endm

	.section .text.entry, "ax"
	.globl _start
_start:
	BE_TO_LE
	/* Little-endian, 64-bit from here. r3, r4, r5 are untouched. */
	bcl	20, 31, 1f
1:	mflr	r12
	addis	r2, r12, (.TOC. - 1b)@ha
	addi	r2, r2, (.TOC. - 1b)@l
	/* Clear .bss (the stacks are in it, so before any call). */
	addis	r6, r2, __bss_start@toc@ha
	addi	r6, r6, __bss_start@toc@l
	addis	r7, r2, __bss_end@toc@ha
	addi	r7, r7, __bss_end@toc@l
	li	r0, 0
2:	cmpld	r6, r7
	bge	3f
	std	r0, 0(r6)
	addi	r6, r6, 8
	b	2b
3:	addis	r1, r2, stacks@toc@ha
	addi	r1, r1, stacks@toc@l
	addis	r1, r1, STACK_SIZE@h
	li	r0, 0
	stdu	r0, -64(r1)
	mr	r3, r5
	bl	cmain
	/* cmain never returns; if it does, spin. */
4:	b	4b

	.globl secondary_entry
secondary_entry:
	BE_TO_LE
	bcl	20, 31, 1f
1:	mflr	r12
	addis	r2, r12, (.TOC. - 1b)@ha
	addi	r2, r2, (.TOC. - 1b)@l
	/* r3 = vCPU index (1..MAX_CPUS-1): stack = stacks + (r3 + 1) * STACK_SIZE */
	cmpldi	r3, MAX_CPUS - 1
	ble	2f
	li	r3, MAX_CPUS - 1
2:	addi	r4, r3, 1
	sldi	r4, r4, 16
	addis	r1, r2, stacks@toc@ha
	addi	r1, r1, stacks@toc@l
	add	r1, r1, r4
	li	r0, 0
	stdu	r0, -64(r1)
	bl	csecondary
3:	b	3b

/*
 * long call_be(unsigned long entry, unsigned long r3, unsigned long r4)
 * Runs big-endian 32-bit code at `entry` (which returns with blr) and returns its r3.
 */
	.text
	.globl call_be
call_be:
	mflr	r0
	std	r0, 16(r1)
	stdu	r1, -128(r1)
	std	r2, 24(r1)
	std	r31, 112(r1)
	mr	r31, r1
	mr	r12, r3
	mr	r3, r4
	mr	r4, r5
	mfmsr	r11
	li	r10, 1
	andc	r11, r11, r10		/* MSR[LE] off */
	rldicl	r11, r11, 0, 1		/* MSR[SF] off */
	mtsrr0	r12
	mtsrr1	r11
	bcl	20, 31, 1f
1:	mflr	r10
	addi	r10, r10, (2f - 1b)
	mtlr	r10
	rfid
2:	BE_TO_LE
	mr	r1, r31
	ld	r2, 24(r1)
	ld	r31, 112(r1)
	addi	r1, r1, 128
	ld	r0, 16(r1)
	mtlr	r0
	blr

/*
 * void hcall_raw(unsigned long regs[10])
 * regs[0] = opcode in, status out; regs[1..9] = r4..r12 in and out.
 */
	.globl hcall_raw
hcall_raw:
	std	r3, -8(r1)
	ld	r4, 8(r3)
	ld	r5, 16(r3)
	ld	r6, 24(r3)
	ld	r7, 32(r3)
	ld	r8, 40(r3)
	ld	r9, 48(r3)
	ld	r10, 56(r3)
	ld	r11, 64(r3)
	ld	r12, 72(r3)
	ld	r3, 0(r3)
	sc	1
	std	r12, -16(r1)
	ld	r12, -8(r1)
	std	r3, 0(r12)
	std	r4, 8(r12)
	std	r5, 16(r12)
	std	r6, 24(r12)
	std	r7, 32(r12)
	std	r8, 40(r12)
	std	r9, 48(r12)
	std	r10, 56(r12)
	std	r11, 64(r12)
	ld	r11, -16(r1)
	std	r11, 72(r12)
	blr

	.section .bss
	.balign 65536
	.globl stacks
stacks:
	.space STACK_SIZE * MAX_CPUS
