/*
 * Bare-metal support for the interrupt-controller conformance guests: hypercalls, the Open
 * Firmware client interface, RTAS, a console printer, MMIO accessors and vCPU start-up.
 *
 * Everything runs in real mode with MSR[EE] = 0 (interrupts are observed by polling).
 */
#ifndef GUEST_LIB_H
#define GUEST_LIB_H

typedef unsigned long u64;
typedef long s64;
typedef unsigned int u32;
typedef unsigned short u16;
typedef unsigned char u8;

#define MAX_CPUS 4

/* hcall opcodes */
#define H_EOI 0x64
#define H_CPPR 0x68
#define H_IPI 0x6C
#define H_IPOLL 0x70
#define H_XIRR 0x74
#define H_PUT_TERM_CHAR 0x58
#define H_XIRR_X 0x2FC
#define H_INT_GET_SOURCE_INFO 0x3A8
#define H_INT_SET_SOURCE_CONFIG 0x3AC
#define H_INT_GET_SOURCE_CONFIG 0x3B0
#define H_INT_GET_QUEUE_INFO 0x3B4
#define H_INT_SET_QUEUE_CONFIG 0x3B8
#define H_INT_GET_QUEUE_CONFIG 0x3BC
#define H_INT_SET_OS_REPORTING_LINE 0x3C0
#define H_INT_GET_OS_REPORTING_LINE 0x3C4
#define H_INT_ESB 0x3C8
#define H_INT_SYNC 0x3CC
#define H_INT_RESET 0x3D0

/* Result of a hypercall: status and r4..r12. */
struct hret {
	s64 rc;
	u64 r[9];
};

struct hret hcall(u64 op, u64 a0, u64 a1, u64 a2, u64 a3, u64 a4, u64 a5);
#define HC0(op) hcall(op, 0, 0, 0, 0, 0, 0)
#define HC1(op, a) hcall(op, a, 0, 0, 0, 0, 0)
#define HC2(op, a, b) hcall(op, a, b, 0, 0, 0, 0)
#define HC3(op, a, b, c) hcall(op, a, b, c, 0, 0, 0)
#define HC4(op, a, b, c, d) hcall(op, a, b, c, d, 0, 0)
#define HC5(op, a, b, c, d, e) hcall(op, a, b, c, d, e, 0)

/* Console: formatted output to the hvterm (H_PUT_TERM_CHAR). %d %u %x %s %c, all integer
 * arguments are passed as 64-bit values. Lines are emitted whole. */
void pr(const char *fmt, ...);

/* Client interface. */
void ci_init(u64 entry);
u32 ci_call(const char *service, int nargs, int nret, const u32 *args, u32 *rets);
u32 of_finddevice(const char *path);
int of_getprop(u32 ph, const char *name, void *buf, u32 len);
u32 of_open(const char *path);
u32 of_child(u32 ph);
u32 of_peer(u32 ph);
int of_package_to_path(u32 ph, char *buf, u32 len);
void of_exit(void);
/* CAS with the given interrupt-mode byte (OV5 byte 23). Returns the catch result and the
 * method result through *method (0/0 on success). */
u32 of_cas(u8 intc, u32 *method);
/* Prints a property as "name=<cells>" (32-bit big-endian cells, or a string). */
void print_prop(const char *tag, u32 ph, const char *name, int as_string);

/* RTAS. */
int rtas_init(void);
u32 rtas_token(const char *name);
/* Calls an RTAS service; returns rets[0] (status) and stores all rets. */
s64 rtas_call(u32 token, int nargs, int nret, const u32 *args, u32 *rets);
/* Starts vCPU `cpu` at secondary_entry with r3 = cpu. Returns the RTAS status. */
s64 start_cpu(u32 cpu);
void power_off(void);

/* Big-endian MMIO. */
static inline u64 mmio_ld64(u64 a)
{
	u64 v;
	__asm__ volatile("sync; ldbrx %0,0,%1; sync" : "=r"(v) : "r"(a) : "memory");
	return v;
}
static inline u32 mmio_ld32(u64 a)
{
	u32 v;
	__asm__ volatile("sync; lwbrx %0,0,%1; sync" : "=r"(v) : "r"(a) : "memory");
	return v;
}
static inline u16 mmio_ld16(u64 a)
{
	u16 v;
	__asm__ volatile("sync; lhbrx %0,0,%1; sync" : "=r"(v) : "r"(a) : "memory");
	return v;
}
static inline u8 mmio_ld8(u64 a)
{
	u8 v;
	__asm__ volatile("sync; lbz %0,0(%1); sync" : "=r"(v) : "b"(a) : "memory");
	return v;
}
static inline void mmio_st64(u64 a, u64 v)
{
	__asm__ volatile("sync; stdbrx %0,0,%1; sync" : : "r"(v), "r"(a) : "memory");
}
static inline void mmio_st32(u64 a, u32 v)
{
	__asm__ volatile("sync; stwbrx %0,0,%1; sync" : : "r"(v), "r"(a) : "memory");
}
static inline void mmio_st8(u64 a, u8 v)
{
	__asm__ volatile("sync; stb %0,0(%1); sync" : : "r"(v), "b"(a) : "memory");
}

/* Memory helpers. */
static inline u32 be32(u32 v) { return __builtin_bswap32(v); }
static inline u32 ld_be32(const volatile void *p)
{
	u32 v;
	__asm__ volatile("lwbrx %0,0,%1" : "=r"(v) : "r"(p) : "memory");
	return v;
}
static inline void barrier(void) { __asm__ volatile("sync" : : : "memory"); }
static inline u64 mftb(void)
{
	u64 v;
	__asm__ volatile("mftb %0" : "=r"(v));
	return v;
}
void *memset(void *d, int c, unsigned long n);
void *memcpy(void *d, const void *s, unsigned long n);
int strcmp(const char *a, const char *b);
unsigned long strlen(const char *s);

/* Waits until *flag == value or the time limit (in seconds) passes. Returns 1 on success. */
int wait_eq(volatile u32 *flag, u32 value, int secs);

/* The program's two entry points. */
void test_main(void);
void test_secondary(u32 cpu);
extern void secondary_entry(void);

#endif
