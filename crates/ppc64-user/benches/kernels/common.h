/* Minimal freestanding runtime for the benchmark kernels: _start (sets up the TOC),
 * argv parsing, write/exit system calls. Each kernel defines `u64 kernel(u64 n)`. */
typedef unsigned long u64;

static long sys3(long n, long a, long b, long c)
{
    register long r0 __asm__("r0") = n;
    register long r3 __asm__("r3") = a;
    register long r4 __asm__("r4") = b;
    register long r5 __asm__("r5") = c;
    __asm__ volatile("sc"
                     : "+r"(r0), "+r"(r3), "+r"(r4), "+r"(r5)
                     :
                     : "memory", "cr0", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "ctr", "xer");
    return r3;
}

static u64 parse(const char *s)
{
    u64 v = 0;
    while (*s >= '0' && *s <= '9')
        v = v * 10 + (u64)(*s++ - '0');
    return v;
}

static void print_hex(u64 v)
{
    char b[17];
    for (int i = 0; i < 16; i++)
        b[i] = "0123456789abcdef"[(v >> (60 - 4 * i)) & 15];
    b[16] = '\n';
    sys3(4, 1, (long)b, 17);
}

u64 kernel(u64 n);

void cstart(long *sp)
{
    long argc = sp[0];
    char **argv = (char **)(sp + 1);
    u64 n = argc > 1 ? parse(argv[1]) : 1;
    print_hex(kernel(n));
    sys3(234, 0, 0, 0);
    for (;;)
        ;
}

__asm__(".globl _start\n"
        "_start:\n"
        "  bcl 20,31,1f\n"
        "1: mflr 12\n"
        "  addis 2,12,(.TOC.-1b)@ha\n"
        "  addi 2,2,(.TOC.-1b)@l\n"
        "  mr 3,1\n"
        "  addi 1,1,-128\n"
        "  bl cstart\n"
        "  trap\n");
