/*
 * Differential-test runner for qemu-ppc64le (built at test time with
 * powerpc64le-linux-gnu-gcc; see ../difftest.rs). SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
 *
 * Reads fixed-size case records from stdin; for each one loads the whole user-visible
 * register state (GPRs except r1, all 64 VSRs, FPSCR, VSCR, CR, XER) and 256 bytes of
 * scratch memory, executes the single instruction of the record, and writes the record
 * back with the resulting state (and the number of any signal the instruction raised) to
 * stdout.
 *
 * Fixed addresses (shared with the Rust side): scratch memory 0x200000, the instruction
 * 0x300000 (followed by blr), save area 0x400000, state record 0x410000.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#define MEMBASE 0x200000UL
#define CODE 0x300000UL
#define SAVE 0x400000UL
#define STATE 0x410000UL
#define REC 1584

void run_case(void);

__asm__(
    ".text\n"
    ".globl run_case\n"
    ".type run_case,@function\n"
    "run_case:\n"
    "  lis 11,0x40\n"
    "  mflr 0\n"
    "  std 0,0(11)\n"
    "  std 1,8(11)\n"
    "  std 2,16(11)\n"
    "  std 13,24(11)\n"
#define S(n, o) "  std " #n "," #o "(11)\n"
    S(14, 32) S(15, 40) S(16, 48) S(17, 56) S(18, 64) S(19, 72) S(20, 80) S(21, 88)
    S(22, 96) S(23, 104) S(24, 112) S(25, 120) S(26, 128) S(27, 136) S(28, 144)
    S(29, 152) S(30, 160) S(31, 168)
    "  mfcr 0\n"
    "  std 0,176(11)\n"
#define SF(n, o) "  stfd " #n "," #o "(11)\n"
    SF(14, 184) SF(15, 192) SF(16, 200) SF(17, 208) SF(18, 216) SF(19, 224) SF(20, 232)
    SF(21, 240) SF(22, 248) SF(23, 256) SF(24, 264) SF(25, 272) SF(26, 280) SF(27, 288)
    SF(28, 296) SF(29, 304) SF(30, 312) SF(31, 320)
#define SV(n, o) "  stxv " #n "," #o "(11)\n"
    SV(52, 336) SV(53, 352) SV(54, 368) SV(55, 384) SV(56, 400) SV(57, 416) SV(58, 432)
    SV(59, 448) SV(60, 464) SV(61, 480) SV(62, 496) SV(63, 512)
    /* load the state */
    "  lis 3,0x41\n"
    "  lfd 0,8(3)\n"
    "  mtfsf 0xff,0,1,0\n"
    "  lxv 32,32(3)\n"
    "  mtvscr 0\n"
    "  lis 4,0x30\n"
    "  mtctr 4\n"
    "  ld 4,16(3)\n"
    "  mtcrf 0xff,4\n"
    "  ld 4,24(3)\n"
    "  mtxer 4\n"
#define LV(n) "  lxv " #n "," "(304+16*" #n ")(3)\n"
    LV(0) LV(1) LV(2) LV(3) LV(4) LV(5) LV(6) LV(7) LV(8) LV(9) LV(10) LV(11) LV(12)
    LV(13) LV(14) LV(15) LV(16) LV(17) LV(18) LV(19) LV(20) LV(21) LV(22) LV(23) LV(24)
    LV(25) LV(26) LV(27) LV(28) LV(29) LV(30) LV(31) LV(32) LV(33) LV(34) LV(35) LV(36)
    LV(37) LV(38) LV(39) LV(40) LV(41) LV(42) LV(43) LV(44) LV(45) LV(46) LV(47) LV(48)
    LV(49) LV(50) LV(51) LV(52) LV(53) LV(54) LV(55) LV(56) LV(57) LV(58) LV(59) LV(60)
    LV(61) LV(62) LV(63)
#define LG(n) "  ld " #n ",(48+8*" #n ")(3)\n"
    LG(0) LG(2) LG(4) LG(5) LG(6) LG(7) LG(8) LG(9) LG(10) LG(11) LG(12) LG(13) LG(14)
    LG(15) LG(16) LG(17) LG(18) LG(19) LG(20) LG(21) LG(22) LG(23) LG(24) LG(25) LG(26)
    LG(27) LG(28) LG(29) LG(30) LG(31) LG(3)
    "  bctrl\n"
    /* save the state */
    "  mtctr 3\n"
    "  lis 3,0x41\n"
#define SG(n) "  std " #n ",(48+8*" #n ")(3)\n"
    SG(0) SG(2) SG(4) SG(5) SG(6) SG(7) SG(8) SG(9) SG(10) SG(11) SG(12) SG(13) SG(14)
    SG(15) SG(16) SG(17) SG(18) SG(19) SG(20) SG(21) SG(22) SG(23) SG(24) SG(25) SG(26)
    SG(27) SG(28) SG(29) SG(30) SG(31)
    "  mfctr 4\n"
    "  std 4,72(3)\n"
    "  mfcr 4\n"
    "  std 4,16(3)\n"
    "  mfxer 4\n"
    "  std 4,24(3)\n"
#define STV(n) "  stxv " #n "," "(304+16*" #n ")(3)\n"
    STV(0) STV(1) STV(2) STV(3) STV(4) STV(5) STV(6) STV(7) STV(8) STV(9) STV(10) STV(11)
    STV(12) STV(13) STV(14) STV(15) STV(16) STV(17) STV(18) STV(19) STV(20) STV(21)
    STV(22) STV(23) STV(24) STV(25) STV(26) STV(27) STV(28) STV(29) STV(30) STV(31)
    STV(32) STV(33) STV(34) STV(35) STV(36) STV(37) STV(38) STV(39) STV(40) STV(41)
    STV(42) STV(43) STV(44) STV(45) STV(46) STV(47) STV(48) STV(49) STV(50) STV(51)
    STV(52) STV(53) STV(54) STV(55) STV(56) STV(57) STV(58) STV(59) STV(60) STV(61)
    STV(62) STV(63)
    "  mffs 0\n"
    "  stfd 0,8(3)\n"
    "  mfvscr 0\n"
    "  stxv 32,32(3)\n"
    /* neutral FPSCR for the C code */
    "  xxlxor 0,0,0\n"
    "  mtfsf 0xff,0,1,0\n"
    /* restore */
    "  lis 11,0x40\n"
    "  ld 0,0(11)\n"
    "  mtlr 0\n"
    "  ld 1,8(11)\n"
    "  ld 2,16(11)\n"
    "  ld 13,24(11)\n"
#define R(n, o) "  ld " #n "," #o "(11)\n"
    R(14, 32) R(15, 40) R(16, 48) R(17, 56) R(18, 64) R(19, 72) R(20, 80) R(21, 88)
    R(22, 96) R(23, 104) R(24, 112) R(25, 120) R(26, 128) R(27, 136) R(28, 144)
    R(29, 152) R(30, 160) R(31, 168)
    "  ld 0,176(11)\n"
    "  mtcrf 0xff,0\n"
#define RF(n, o) "  lfd " #n "," #o "(11)\n"
    RF(14, 184) RF(15, 192) RF(16, 200) RF(17, 208) RF(18, 216) RF(19, 224) RF(20, 232)
    RF(21, 240) RF(22, 248) RF(23, 256) RF(24, 264) RF(25, 272) RF(26, 280) RF(27, 288)
    RF(28, 296) RF(29, 304) RF(30, 312) RF(31, 320)
#define RV(n, o) "  lxv " #n "," #o "(11)\n"
    RV(52, 336) RV(53, 352) RV(54, 368) RV(55, 384) RV(56, 400) RV(57, 416) RV(58, 432)
    RV(59, 448) RV(60, 464) RV(61, 480) RV(62, 496) RV(63, 512)
    "  blr\n"
    ".size run_case,.-run_case\n");

static void handler(int sig, siginfo_t *si, void *ctx)
{
    ucontext_t *uc = ctx;
    (void)si;
    *(volatile uint32_t *)(STATE + 4) = (uint32_t)sig;
    /* resume at the blr after the instruction */
    uc->uc_mcontext.gp_regs[32] = CODE + 4;
}

static void *fixed(unsigned long addr, int prot)
{
    void *p = mmap((void *)addr, 0x10000, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (p == MAP_FAILED || (unsigned long)p != addr) {
        perror("mmap");
        exit(2);
    }
    return p;
}

int main(void)
{
    static unsigned char rec[REC];
    fixed(MEMBASE, PROT_READ | PROT_WRITE);
    uint32_t *code = fixed(CODE, PROT_READ | PROT_WRITE | PROT_EXEC);
    fixed(SAVE, PROT_READ | PROT_WRITE);
    unsigned char *state = fixed(STATE, PROT_READ | PROT_WRITE);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = handler;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigaction(SIGILL, &sa, NULL);
    sigaction(SIGFPE, &sa, NULL);
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
    sigaction(SIGTRAP, &sa, NULL);
    setvbuf(stdout, NULL, _IOFBF, 1 << 20);
    while (fread(rec, REC, 1, stdin) == 1) {
        memcpy(state, rec, REC);
        *(uint32_t *)(state + 4) = 0;
        memcpy((void *)MEMBASE, rec + 1328, 256);
        code[0] = *(uint32_t *)rec;
        code[1] = 0x4e800020; /* blr */
        __builtin___clear_cache((char *)code, (char *)(code + 2));
        run_case();
        memcpy(state + 1328, (void *)MEMBASE, 256);
        fwrite(state, REC, 1, stdout);
    }
    fflush(stdout);
    return 0;
}
