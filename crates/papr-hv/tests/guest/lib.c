/* Support library of the conformance guests: see lib.h. */
#include "lib.h"

extern long call_be(u64 entry, u64 r3, u64 r4);
extern void hcall_raw(u64 *regs);

static u64 ci_entry;
static u64 rtas_entry, rtas_base;
static u32 termno;
static u8 rtas_area[0x10000] __attribute__((aligned(4096)));

void *memset(void *d, int c, unsigned long n)
{
	volatile u8 *p = d;
	while (n--)
		*p++ = (u8)c;
	return d;
}

void *memcpy(void *d, const void *s, unsigned long n)
{
	volatile u8 *p = d;
	const u8 *q = s;
	while (n--)
		*p++ = *q++;
	return d;
}

int strcmp(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return (u8)*a - (u8)*b;
}

unsigned long strlen(const char *s)
{
	unsigned long n = 0;
	while (s[n])
		n++;
	return n;
}

struct hret hcall(u64 op, u64 a0, u64 a1, u64 a2, u64 a3, u64 a4, u64 a5)
{
	u64 regs[10] = {op, a0, a1, a2, a3, a4, a5, 0, 0, 0};
	struct hret r;
	int i;
	hcall_raw(regs);
	r.rc = (s64)regs[0];
	for (i = 0; i < 9; i++)
		r.r[i] = regs[i + 1];
	return r;
}

/* ---- console ---- */

static char line[512];
static unsigned line_len;

static void put_bytes(const char *s, unsigned n)
{
	while (n) {
		unsigned k = n > 16 ? 16 : n, i, tries;
		u64 w[2] = {0, 0};
		for (i = 0; i < k; i++)
			w[i / 8] |= (u64)(u8)s[i] << (56 - 8 * (i % 8));
		for (tries = 0; tries < 1000; tries++) {
			struct hret r = hcall(H_PUT_TERM_CHAR, termno, k, w[0], w[1], 0, 0);
			if (r.rc == 0)
				break;
		}
		s += k;
		n -= k;
	}
}

static void emit(char c)
{
	if (line_len < sizeof(line))
		line[line_len++] = c;
	if (c == '\n') {
		put_bytes(line, line_len);
		line_len = 0;
	}
}

static void emit_num(u64 v, int base, int neg)
{
	char buf[24];
	int n = 0;
	if (neg) {
		emit('-');
		v = -v;
	}
	do {
		u64 d = v % base;
		buf[n++] = d < 10 ? '0' + d : 'a' + d - 10;
		v /= base;
	} while (v);
	while (n)
		emit(buf[--n]);
}

void pr(const char *fmt, ...)
{
	__builtin_va_list ap;
	__builtin_va_start(ap, fmt);
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			emit(*fmt);
			continue;
		}
		fmt++;
		switch (*fmt) {
		case 'd': {
			s64 v = __builtin_va_arg(ap, s64);
			emit_num((u64)v, 10, v < 0);
			break;
		}
		case 'u':
			emit_num(__builtin_va_arg(ap, u64), 10, 0);
			break;
		case 'x':
			emit('0');
			emit('x');
			emit_num(__builtin_va_arg(ap, u64), 16, 0);
			break;
		case 's': {
			const char *s = __builtin_va_arg(ap, const char *);
			while (*s)
				emit(*s++);
			break;
		}
		case 'c':
			emit((char)__builtin_va_arg(ap, u64));
			break;
		case '%':
			emit('%');
			break;
		default:
			emit('?');
			break;
		}
	}
	__builtin_va_end(ap);
}

/* ---- client interface ---- */

static u32 ci_block[13] __attribute__((aligned(8)));

u32 ci_call(const char *service, int nargs, int nret, const u32 *args, u32 *rets)
{
	int i;
	long rc;
	ci_block[0] = be32((u32)(u64)service);
	ci_block[1] = be32(nargs);
	ci_block[2] = be32(nret);
	for (i = 0; i < 10; i++)
		ci_block[3 + i] = be32(i < nargs ? args[i] : 0);
	barrier();
	rc = call_be(ci_entry, (u64)ci_block, 0);
	barrier();
	for (i = 0; i < nret; i++)
		rets[i] = be32(ci_block[3 + nargs + i]);
	return (u32)rc;
}

u32 of_finddevice(const char *path)
{
	u32 a[1] = {(u32)(u64)path}, r[1] = {0};
	ci_call("finddevice", 1, 1, a, r);
	return r[0];
}

int of_getprop(u32 ph, const char *name, void *buf, u32 len)
{
	u32 a[4] = {ph, (u32)(u64)name, (u32)(u64)buf, len}, r[1] = {0};
	ci_call("getprop", 4, 1, a, r);
	return (int)r[0];
}

u32 of_open(const char *path)
{
	u32 a[1] = {(u32)(u64)path}, r[1] = {0};
	ci_call("open", 1, 1, a, r);
	return r[0];
}

u32 of_child(u32 ph)
{
	u32 a[1] = {ph}, r[1] = {0};
	ci_call("child", 1, 1, a, r);
	return r[0];
}

u32 of_peer(u32 ph)
{
	u32 a[1] = {ph}, r[1] = {0};
	ci_call("peer", 1, 1, a, r);
	return r[0];
}

int of_package_to_path(u32 ph, char *buf, u32 len)
{
	u32 a[3] = {ph, (u32)(u64)buf, len}, r[1] = {0};
	ci_call("package-to-path", 3, 1, a, r);
	return (int)r[0];
}

void of_exit(void)
{
	ci_call("exit", 0, 0, 0, 0);
}

/* Option-vector table for CAS: one logical PVR (ISA 3.00) plus Linux's terminator pair,
 * then five option vectors. Bytes are numbered from 1 inside a vector. */
static u8 cas_vec[64] __attribute__((aligned(8)));

u32 of_cas(u8 intc, u32 *method)
{
	u8 *p = cas_vec;
	u32 root, a[3], r[2] = {0, 0}, rc;
	int i;
	static const u8 pvrs[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x00, 0x00, 0x05,
				  0xff, 0xff, 0xff, 0xfe, 0x0f, 0x00, 0x00, 0x01};
	for (i = 0; i < (int)sizeof(pvrs); i++)
		*p++ = pvrs[i];
	*p++ = 5 - 1; /* five vectors */
	/* OV1: 3 bytes, byte 3 = ISA 3.00 */
	*p++ = 3 - 1;
	*p++ = 0;
	*p++ = 0;
	*p++ = 0x80;
	/* OV2..OV4: one zero byte each */
	for (i = 0; i < 3; i++) {
		*p++ = 0;
		*p++ = 0;
	}
	/* OV5: 26 bytes; byte 23 = interrupt controller, byte 24 = radix, byte 26 = GTSE */
	*p++ = 26 - 1;
	for (i = 1; i <= 26; i++) {
		u8 b = 0;
		if (i == 2)
			b = 0x80; /* LPAR */
		if (i == 23)
			b = intc;
		if (i == 24)
			b = 0x40;
		if (i == 26)
			b = 0x40;
		*p++ = b;
	}
	root = of_open("/");
	a[0] = (u32)(u64)"ibm,client-architecture-support";
	a[1] = root;
	a[2] = (u32)(u64)cas_vec;
	rc = ci_call("call-method", 3, 2, a, r);
	*method = r[1];
	if (rc != 0)
		return 0xdead;
	return r[0];
}

void print_prop(const char *tag, u32 ph, const char *name, int as_string)
{
	static u8 buf[256];
	int n = of_getprop(ph, name, buf, sizeof(buf)), i;
	if (n < 0 || n > (int)sizeof(buf)) {
		pr("%s %s=<absent>\n", tag, name);
		return;
	}
	if (as_string) {
		pr("%s %s=\"", tag, name);
		for (i = 0; i < n; i++) {
			char c = buf[i];
			char s[2] = {c ? c : ',', 0};
			if (i == n - 1 && c == 0)
				break;
			pr("%s", s);
		}
		pr("\"\n");
		return;
	}
	pr("%s %s=<", tag, name);
	for (i = 0; i + 4 <= n; i += 4)
		pr(i ? " %x" : "%x", (u64)ld_be32(buf + i));
	for (; i < n; i++)
		pr(" b%x", (u64)buf[i]);
	pr(">\n");
}

void ci_init(u64 entry)
{
	u32 ph, ih = 0, a[1], r[1];
	ci_entry = entry;
	termno = 0;
	ph = of_finddevice("/chosen");
	if (ph != 0xffffffff && of_getprop(ph, "stdout", &ih, 4) == 4) {
		u32 reg;
		ih = be32(ih);
		a[0] = ih;
		r[0] = 0;
		ci_call("instance-to-package", 1, 1, a, r);
		if (r[0] != 0xffffffff && of_getprop(r[0], "reg", &reg, 4) == 4)
			termno = be32(reg);
	}
}

/* ---- RTAS ---- */

static u32 tok_start_cpu, tok_power_off, rtas_token_stop_self;

u32 rtas_token(const char *name)
{
	u32 ph = of_finddevice("/rtas"), t;
	if (ph == 0xffffffff || of_getprop(ph, name, &t, 4) != 4)
		return 0xffffffff;
	return be32(t);
}

int rtas_init(void)
{
	u32 ph = of_finddevice("/rtas"), ih, a[3], r[2] = {0, 0}, size = 0;
	if (ph == 0xffffffff)
		return -1;
	if (of_getprop(ph, "rtas-size", &size, 4) != 4)
		return -2;
	if (be32(size) > sizeof(rtas_area))
		return -3;
	ih = of_open("/rtas");
	a[0] = (u32)(u64)"instantiate-rtas";
	a[1] = ih;
	a[2] = (u32)(u64)rtas_area;
	if (ci_call("call-method", 3, 2, a, r) != 0 || r[0] != 0)
		return -4;
	rtas_base = (u64)rtas_area;
	rtas_entry = r[1];
	tok_start_cpu = rtas_token("start-cpu");
	tok_power_off = rtas_token("power-off");
	rtas_token_stop_self = rtas_token("stop-self");
	return 0;
}

s64 rtas_call(u32 token, int nargs, int nret, const u32 *args, u32 *rets)
{
	u32 rtas_blk[20] __attribute__((aligned(8)));
	int i;
	if (nargs + nret > 17)
		return -9999;
	rtas_blk[0] = be32(token);
	rtas_blk[1] = be32(nargs);
	rtas_blk[2] = be32(nret);
	for (i = 0; i < nargs; i++)
		rtas_blk[3 + i] = be32(args[i]);
	for (i = 0; i < nret; i++)
		rtas_blk[3 + nargs + i] = be32(0xdeadbeef);
	barrier();
	call_be(rtas_entry, (u64)rtas_blk, rtas_base);
	barrier();
	for (i = 0; i < nret; i++)
		rets[i] = be32(rtas_blk[3 + nargs + i]);
	return nret > 0 ? (s64)(int)rets[0] : 0;
}

s64 start_cpu(u32 cpu)
{
	u32 a[3] = {cpu, (u32)(u64)secondary_entry, cpu}, r[1];
	return rtas_call(tok_start_cpu, 3, 1, a, r);
}

void power_off(void)
{
	u32 a[2] = {0, 0}, r[1];
	rtas_call(tok_power_off, 2, 1, a, r);
}

int wait_eq(volatile u32 *flag, u32 value, int secs)
{
	u64 t0 = mftb(), lim = (u64)secs * 512000000ul;
	while (*flag != value) {
		if (mftb() - t0 > lim)
			return 0;
	}
	barrier();
	return 1;
}

/* ---- entry from start.S ---- */

void cmain(u64 ci)
{
	ci_init(ci);
	pr("@@BEGIN\n");
	test_main();
	pr("@@END\n");
	/* RTAS power-off ends both machines; QEMU's VOF `exit` only pauses the VM. */
	power_off();
	of_exit();
	for (;;)
		;
}

void csecondary(u64 cpu)
{
	u32 r[1];
	test_secondary((u32)cpu);
	rtas_call(rtas_token_stop_self, 0, 1, 0, r);
	for (;;)
		;
}
