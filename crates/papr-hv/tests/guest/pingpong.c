/*
 * IPI ping-pong between two vCPUs (run with 2 vCPUs), for `papr-hv bench irq` and
 * tests/ipi_pingpong.rs.
 *
 * The interrupt controller is the one the machine offers (/chosen
 * ibm,arch-vec-5-platform-support byte 23: XIVE exploitation mode when offered, else XICS),
 * negotiated at CAS. vCPU 0 sends an IPI to vCPU 1 and waits for one back; vCPU 1 answers
 * each IPI it takes. Both wait in H_CEDE and take the IPI as an external interrupt at 0x500,
 * as Linux does: the handler acknowledges it (XIVE: TIMA ACK, event queue, ESB EOI; XICS:
 * H_XIRR, H_IPI(self, 0xFF), H_EOI) and counts it. After `warmup` untimed round trips,
 * `rounds` round trips are timed with the timebase (512 MHz).
 *
 * Command line (/chosen bootargs): `rounds=N` (default 20000), `warmup=N` (default 500).
 * Output, between @@BEGIN and @@END:
 *   pingpong mode=<xive|xics> rounds=<N> warmup=<W>
 *   @@PINGPONG mode=<xive|xics> rounds=<N> ticks=<T> rt_per_s=<R>
 *   pingpong done rounds=<N>
 * or a line starting with "pingpong error" when something fails.
 */
#include "lib.h"

#define H_CEDE 0xE0
#define H_SET_MODE 0x31C
#define EE 0x8000ul
#define IPI_PRIO_XIVE 6
#define IPI_PRIO_XICS 4
#define TB_HZ 512000000ul

extern void ext_vector(void);
extern u32 dec_vector[], dec_vector_end[];

static int xive;
static u64 tima;

/* Per vCPU: the IPI's ESB pages (XIVE), the event queue (XIVE), the IPI count. */
static u64 esb_mgmt[2], esb_trig[2];
static u32 qmem0[16384] __attribute__((aligned(65536)));
static u32 qmem1[16384] __attribute__((aligned(65536)));

struct queue {
	volatile u32 *base;
	u32 mask, idx, toggle;
};
static struct queue Q[2];

static volatile u32 got[2];
static volatile u32 ready, stop, finished;
static volatile u32 spurious[2];

/* ---- small helpers ---- */

static void set_r13(u64 cpu) { __asm__ volatile("mr 13,%0" : : "r"(cpu)); }

static void arm_dec(void)
{
	u64 v = 0x7fffffff;
	__asm__ volatile("mtdec %0" : : "r"(v));
}

static void cede(void)
{
	arm_dec();
	HC0(H_CEDE);
}

static void write_insn(u64 addr, u32 insn)
{
	/* (a store through a pointer to such a low constant address draws a GCC warning) */
	__asm__ volatile("stw %1,0(%0); dcbst 0,%0; sync; icbi 0,%0; sync; isync"
			 : : "b"(addr), "r"(insn) : "memory");
}

static int q_pop(struct queue *q, u32 *eisn)
{
	u32 cur = ld_be32(&q->base[q->idx]);
	if ((cur >> 31) == q->toggle)
		return 0;
	q->idx = (q->idx + 1) & q->mask;
	if (q->idx == 0)
		q->toggle ^= 1;
	*eisn = cur & 0x7fffffff;
	return 1;
}

static void send_ipi(u32 to)
{
	if (xive)
		mmio_st64(esb_trig[to], 0);
	else
		HC2(H_IPI, to, IPI_PRIO_XICS);
}

/* Called from ext_vector with MSR[EE] = 0. */
void ext_irq(u64 cpu)
{
	u32 c = cpu & 1, e, n = 0;
	if (xive) {
		mmio_ld16(tima + 0x810); /* ACK: CPPR <- the IPI priority */
		while (q_pop(&Q[c], &e)) {
			if (e == 0x100 + c) {
				/* EOI as Linux does for an MSI: SET_PQ_00; a Q bit means replay. */
				if (mmio_ld64(esb_mgmt[c] + 0xc00) & 1)
					mmio_st64(esb_trig[c], 0);
				n++;
			}
		}
		mmio_st8(tima + 0x11, 0xff);
	} else {
		struct hret r = HC1(H_XIRR, 0xff);
		u64 xisr = r.r[0] & 0xffffff;
		if (xisr == 2) {
			HC2(H_IPI, c, 0xff);
			n++;
		}
		if (xisr)
			HC1(H_EOI, r.r[0]);
	}
	if (n)
		got[c] += n;
	else
		spurious[c]++;
	barrier();
}

/* ---- set-up ---- */

static int has_prefix(const char *s, const char *p, unsigned long n)
{
	unsigned long i;
	for (i = 0; i < n; i++)
		if (s[i] != p[i])
			return 0;
	return 1;
}

static u64 parse_arg(const char *args, const char *key, u64 dflt)
{
	unsigned long k = strlen(key), i;
	for (i = 0; args[i]; i++) {
		if ((i == 0 || args[i - 1] == ' ') && has_prefix(args + i, key, k) && args[i + k] == '=') {
			u64 v = 0;
			const char *p = args + i + k + 1;
			if (*p < '0' || *p > '9')
				return dflt;
			while (*p >= '0' && *p <= '9')
				v = v * 10 + (u64)(*p++ - '0');
			return v;
		}
	}
	return dflt;
}

static int platform_xive(void)
{
	u8 buf[32];
	u32 chosen = of_finddevice("/chosen");
	int n = of_getprop(chosen, "ibm,arch-vec-5-platform-support", buf, sizeof(buf)), i;
	for (i = 0; i + 1 < n && i + 1 < (int)sizeof(buf); i += 2)
		if (buf[i] == 23)
			return (buf[i + 1] & 0xc0) != 0;
	return 0;
}

static u64 find_tima(void)
{
	u32 root = of_finddevice("/"), c;
	char buf[32];
	u64 regs[4];
	for (c = of_child(root); c && c != 0xffffffff; c = of_peer(c)) {
		int n = of_getprop(c, "compatible", buf, sizeof(buf) - 1);
		if (n <= 0)
			continue;
		buf[n] = 0;
		if (strcmp(buf, "ibm,power-ivpe"))
			continue;
		/* reg: (USER page, OS page), each 64-bit address + 64-bit size */
		if (of_getprop(c, "reg", regs, sizeof(regs)) != 32)
			return 0;
		return ((u64)ld_be32((u8 *)regs + 16) << 32) | ld_be32((u8 *)regs + 20);
	}
	return 0;
}

static int xive_setup(void)
{
	u32 c;
	for (c = 0; c < 2; c++) {
		u32 *m = c ? qmem1 : qmem0;
		struct hret r;
		memset(m, 0, sizeof(qmem0));
		barrier();
		Q[c].base = m;
		Q[c].mask = 16384 - 1;
		Q[c].idx = 0;
		Q[c].toggle = 0;
		r = HC5(H_INT_SET_QUEUE_CONFIG, 1, c, IPI_PRIO_XIVE, (u64)m, 16);
		if (r.rc) {
			pr("pingpong error set_queue_config(%u) rc=%d\n", (u64)c, r.rc);
			return -1;
		}
		r = HC2(H_INT_GET_SOURCE_INFO, 0, c);
		if (r.rc || r.r[1] == ~0ul || r.r[2] == ~0ul) {
			pr("pingpong error get_source_info(%u) rc=%d flags=%x\n", (u64)c, r.rc, r.r[0]);
			return -1;
		}
		esb_mgmt[c] = r.r[1];
		esb_trig[c] = r.r[2];
		r = HC5(H_INT_SET_SOURCE_CONFIG, 2, c, c, IPI_PRIO_XIVE, 0x100 + c);
		if (r.rc) {
			pr("pingpong error set_source_config(%u) rc=%d\n", (u64)c, r.rc);
			return -1;
		}
		mmio_ld64(esb_mgmt[c] + 0xc00); /* PQ = 00: enabled */
	}
	return 0;
}

/* Each vCPU opens its own presenter. */
static void open_cppr(void)
{
	if (xive)
		mmio_st8(tima + 0x11, 0xff);
	else
		HC1(H_CPPR, 0xff);
}

/* ---- the two sides ---- */

void test_secondary(u32 cpu)
{
	u32 answered = 0;
	set_r13(1);
	open_cppr();
	barrier();
	ready = 1;
	barrier();
	for (;;) {
		while (got[1] == answered && !stop)
			cede();
		if (stop)
			break;
		while (answered != got[1]) {
			answered++;
			send_ipi(0);
		}
	}
	barrier();
	finished = 1;
	barrier();
}

static int round_trips(u32 n)
{
	u32 i, start = got[0];
	for (i = 1; i <= n; i++) {
		u64 t0 = mftb();
		send_ipi(1);
		while (got[0] - start < i) {
			cede();
			if (mftb() - t0 > 10 * TB_HZ) {
				pr("pingpong error no answer to IPI %u\n", (u64)i);
				return -1;
			}
		}
	}
	return 0;
}

void test_main(void)
{
	static char args[256];
	u32 method = 0, rc, chosen, rounds, warmup;
	u64 t0, t1, ticks;
	int n;

	set_r13(0);
	chosen = of_finddevice("/chosen");
	n = of_getprop(chosen, "bootargs", args, sizeof(args) - 1);
	args[n > 0 && n < (int)sizeof(args) ? n : 0] = 0;
	rounds = (u32)parse_arg(args, "rounds", 20000);
	warmup = (u32)parse_arg(args, "warmup", 500);

	xive = platform_xive();
	rc = of_cas(xive ? 0x40 : 0x00, &method);
	if (rc || method) {
		pr("pingpong error cas rc=%x method=%x\n", (u64)rc, (u64)method);
		return;
	}
	if (rtas_init()) {
		pr("pingpong error rtas\n");
		return;
	}
	if (xive) {
		tima = find_tima();
		if (!tima) {
			pr("pingpong error no TIMA\n");
			return;
		}
		if (xive_setup())
			return;
	}
	pr("pingpong mode=%s rounds=%u warmup=%u\n", xive ? "xive" : "xics", (u64)rounds,
	   (u64)warmup);

	/* Interrupts in little-endian; vectors installed (the client interface, whose code
	 * may live there, is not used from here on). */
	if (hcall(H_SET_MODE, 1, 4, 0, 0, 0, 0).rc) {
		pr("pingpong error H_SET_MODE(ILE)\n");
		return;
	}
	write_insn(0x500, 0x48000002u | ((u32)(u64)ext_vector & 0x03fffffcu));
	{
		u32 *s = dec_vector, k;
		for (k = 0; s + k < dec_vector_end; k++)
			write_insn(0x900 + 4 * k, s[k]);
	}

	open_cppr();
	got[0] = got[1] = 0;
	ready = stop = finished = 0;
	barrier();
	if (start_cpu(1)) {
		pr("pingpong error start-cpu\n");
		return;
	}
	if (!wait_eq(&ready, 1, 10)) {
		pr("pingpong error vCPU 1 did not start\n");
		return;
	}
	if (round_trips(warmup))
		return;
	t0 = mftb();
	if (round_trips(rounds))
		return;
	t1 = mftb();
	ticks = t1 - t0;
	stop = 1;
	barrier();
	send_ipi(1);
	if (!wait_eq(&finished, 1, 10))
		pr("pingpong error vCPU 1 did not finish\n");
	pr("@@PINGPONG mode=%s rounds=%u ticks=%u rt_per_s=%u\n", xive ? "xive" : "xics",
	   (u64)rounds, ticks, ticks ? (u64)rounds * TB_HZ / ticks : 0);
	pr("info spurious cpu0=%u cpu1=%u\n", (u64)spurious[0], (u64)spurious[1]);
	pr("pingpong done rounds=%u\n", (u64)rounds);
}
