/*
 * XIVE exploitation-mode conformance guest (run with 2 vCPUs).
 *
 * Prints one observation per line: hcall return codes and outputs (including error paths),
 * ESB PQ transitions through the management and trigger pages and H_INT_ESB, event-queue
 * contents with wrap-around and the generation bit, TIMA CPPR/IPB/PIPR/NSR and ACK, IPIs
 * between the two vCPUs, H_INT_SYNC and H_INT_RESET. Lines starting with "info " describe
 * the machine and are not compared.
 */
#include "lib.h"

#define H_PARAMETER -4
#define NONE 0xffffffffffffffffull

/* Event queues (4 KiB = 1024 entries) and a 64 KiB one. */
static u32 q0p5[1024] __attribute__((aligned(4096)));
static u32 q0p2[1024] __attribute__((aligned(4096)));
static u32 q0p3[1024] __attribute__((aligned(4096)));
static u32 q1p5[1024] __attribute__((aligned(4096)));
static u32 q64k[16384] __attribute__((aligned(65536)));

struct queue {
	volatile u32 *base;
	u32 mask, idx, toggle;
};

static struct queue Q0P5, Q0P2, Q0P3, Q1P5;

static void q_init(struct queue *q, u32 *base, u32 entries)
{
	q->base = base;
	q->mask = entries - 1;
	q->idx = 0;
	q->toggle = 0;
	memset(base, 0, entries * 4);
	barrier();
}

/* The consumer algorithm of xive.md 5.2: returns 1 and the EISN if an entry was there. */
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

/* Prints (ending the current line) and consumes everything in a queue. */
static void q_list(struct queue *q)
{
	u32 e, n = 0;
	pr(" queue:");
	while (n < 64 && q_pop(q, &e)) {
		pr(" %x", (u64)e);
		n++;
	}
	pr(n ? "\n" : " empty\n");
}

static void q_show(const char *tag, struct queue *q)
{
	pr("%s", tag);
	q_list(q);
}

struct source {
	u64 flags, eoi, trig, shift;
};

static struct source SRC0, SRC1;
static u64 tima; /* OS page */

static void get_source(const char *tag, u64 lisn, struct source *s)
{
	struct hret r = HC2(H_INT_GET_SOURCE_INFO, 0, lisn);
	if (r.rc)
		pr("%s get_source_info(%x) rc=%d\n", tag, lisn, r.rc);
	else
		pr("%s get_source_info(%x) rc=0 flags=%x eoi=%x trig=%x shift=%u\n", tag, lisn,
		   r.r[0], r.r[1], r.r[2], r.r[3]);
	if (s) {
		s->flags = r.r[0];
		s->eoi = r.r[1];
		s->trig = r.r[2];
		s->shift = r.r[3];
	}
}

static s64 set_src(u64 flags, u64 lisn, u64 target, u64 prio, u64 eisn)
{
	return HC5(H_INT_SET_SOURCE_CONFIG, flags, lisn, target, prio, eisn).rc;
}

static void show_src_cfg(const char *tag, u64 flags, u64 lisn)
{
	struct hret r = HC2(H_INT_GET_SOURCE_CONFIG, flags, lisn);
	if (r.rc)
		pr("%s get_source_config(%x,%x) rc=%d\n", tag, flags, lisn, r.rc);
	else
		pr("%s get_source_config(%x,%x) rc=0 target=%x prio=%x eisn=%x\n", tag, flags, lisn,
		   r.r[0], r.r[1], r.r[2]);
}

static void show_q_cfg(const char *tag, u64 flags, u64 target, u64 prio, u64 qbase)
{
	struct hret r = HC3(H_INT_GET_QUEUE_CONFIG, flags, target, prio);
	/* The queue page is printed relative to the expected one (the image may load at
	 * different addresses in principle; it does not on either machine). */
	if (r.rc) {
		pr("%s get_queue_config(%x,%u,%u) rc=%d\n", tag, flags, target, prio, r.rc);
		return;
	}
	pr("%s get_queue_config(%x,%u,%u) rc=%d qflags=%x qpage=%s%x qshift=%u qindex=%u\n", tag,
	   flags, target, prio, r.rc, r.r[0], r.r[1] && r.r[1] == qbase ? "Q+" : "",
	   r.r[1] && r.r[1] == qbase ? 0 : r.r[1], r.r[2], r.r[3]);
}

static u64 esb_ld(struct source *s, u64 off) { return mmio_ld64(s->eoi + off); }
static void esb_st(struct source *s, u64 off, u64 v) { mmio_st64(s->eoi + off, v); }
static void trig(struct source *s) { mmio_st64(s->trig, 0); }
static u64 pq(struct source *s) { return esb_ld(s, 0x800); }

static void tima_show(const char *tag)
{
	u32 w0 = mmio_ld32(tima + 0x10), w1 = mmio_ld32(tima + 0x14);
	pr("%s tima nsr=%x cppr=%x ipb=%x lsmfb=%x ack=%x inc=%x age=%x pipr=%x\n", tag,
	   (u64)(w0 >> 24), (u64)((w0 >> 16) & 0xff), (u64)((w0 >> 8) & 0xff), (u64)(w0 & 0xff),
	   (u64)(w1 >> 24), (u64)((w1 >> 16) & 0xff), (u64)((w1 >> 8) & 0xff),
	   (u64)(w1 & 0xff));
}

static void set_cppr(u8 v) { mmio_st8(tima + 0x11, v); }
static u64 ack(void) { return mmio_ld16(tima + 0x810); }

/* ---- device tree ---- */

static char path[256];

static u32 find_compatible(u32 parent, const char *compat)
{
	u32 c;
	char buf[64];
	for (c = of_child(parent); c && c != 0xffffffff; c = of_peer(c)) {
		int n = of_getprop(c, "compatible", buf, sizeof(buf) - 1);
		if (n > 0) {
			buf[n] = 0;
			if (!strcmp(buf, compat))
				return c;
		}
	}
	return 0;
}

/* Prints every node that has an "interrupts" property (depth-first, 3 levels). */
static void walk_interrupts(u32 ph, int depth)
{
	u32 c;
	u8 buf[64];
	int n = of_getprop(ph, "interrupts", buf, sizeof(buf)), i;
	if (n > 0) {
		of_package_to_path(ph, path, sizeof(path));
		pr("info dt %s interrupts=<", path);
		for (i = 0; i + 4 <= n && i < 64; i += 4)
			pr(i ? " %x" : "%x", (u64)ld_be32(buf + i));
		pr(">\n");
	}
	if (depth >= 3)
		return;
	for (c = of_child(ph); c && c != 0xffffffff; c = of_peer(c))
		walk_interrupts(c, depth + 1);
}

static void dt_facts(void)
{
	u32 root = of_finddevice("/"), chosen = of_finddevice("/chosen"), ivpe;
	u8 ov5[64];
	u64 regs[4];
	int n = of_getprop(chosen, "ibm,architecture-vec-5", ov5, sizeof(ov5));
	pr("dt ov5 len=%d byte23=%x byte24=%x\n", (s64)n, (u64)(n > 23 ? ov5[23] : 0xee),
	   (u64)(n > 24 ? ov5[24] : 0xee));
	print_prop("dt /", root, "ibm,plat-res-int-priorities", 0);
	ivpe = find_compatible(root, "ibm,power-ivpe");
	if (!ivpe) {
		pr("dt ivpe node missing\n");
		return;
	}
	of_package_to_path(ivpe, path, sizeof(path));
	pr("dt ivpe path=%s\n", path);
	print_prop("dt ivpe", ivpe, "device_type", 1);
	print_prop("dt ivpe", ivpe, "compatible", 1);
	print_prop("dt ivpe", ivpe, "reg", 0);
	print_prop("dt ivpe", ivpe, "ibm,xive-eq-sizes", 0);
	print_prop("dt ivpe", ivpe, "ibm,xive-lisn-ranges", 0);
	print_prop("dt ivpe", ivpe, "#interrupt-cells", 0);
	print_prop("dt ivpe", ivpe, "interrupt-controller", 0);
	if (of_getprop(ivpe, "reg", regs, sizeof(regs)) == 32)
		tima = ((u64)ld_be32((u8 *)regs + 16) << 32) | ld_be32((u8 *)regs + 20);
	print_prop("dt cpu0", of_finddevice("/cpus/PowerPC,POWER9@0"), "ibm,ppc-interrupt-server#s", 0);
	print_prop("dt cpu1", of_finddevice("/cpus/PowerPC,POWER9@1"), "ibm,ppc-interrupt-server#s", 0);
	walk_interrupts(root, 0);
}

/* ---- the second vCPU ---- */

struct shared {
	u32 step, done;
	u64 w0_start, qentry, w0_noted, ackv, w0_acked, eoi_old, pq_after;
	u32 found;
};
static volatile struct shared SH;

static u64 tima_w0(void) { return mmio_ld32(tima + 0x10); }

void test_secondary(u32 cpu)
{
	u64 t0;
	u32 e;
	set_cppr(0xff);
	SH.w0_start = tima_w0();
	barrier();
	SH.done = 1;
	barrier();
	if (!wait_eq(&SH.step, 1, 10))
		return;
	/* Wait for cpu0's trigger of our IPI to land in our queue. */
	t0 = mftb();
	SH.found = 0;
	while (mftb() - t0 < 5ul * 512000000ul) {
		if (q_pop(&Q1P5, &e)) {
			SH.found = 1;
			SH.qentry = e;
			break;
		}
	}
	SH.w0_noted = tima_w0();
	SH.ackv = ack();
	SH.w0_acked = tima_w0();
	SH.eoi_old = esb_ld(&SRC1, 0xc00); /* EOI as Linux does for MSIs */
	SH.pq_after = pq(&SRC1);
	/* Now send cpu0 its IPI. */
	trig(&SRC0);
	barrier();
	SH.done = 2;
	barrier();
	wait_eq(&SH.step, 2, 10);
	set_cppr(0);
	SH.done = 3;
}

/* ---- tests ---- */

static void hcall_errors(void)
{
	struct hret r;
	/* GET_SOURCE_INFO */
	r = HC2(H_INT_GET_SOURCE_INFO, 1, 0);
	pr("gsi flags=1 rc=%d\n", r.rc);
	r = HC2(H_INT_GET_SOURCE_INFO, 0x8000000000000000ull, 0);
	pr("gsi flags=msb rc=%d\n", r.rc);
	get_source("gsi", 0x2000, 0);
	get_source("gsi", 0x1fff, 0);
	get_source("gsi", 0xffffffffull, 0);
	get_source("gsi", NONE, 0);
	get_source("gsi", 0x100000000ull, 0);
	get_source("gsi", 0x800, 0);

	/* SET_SOURCE_CONFIG error order: flags, LISN, prio 0xff, reserved prio, target */
	pr("ssc flags=4 rc=%d\n", set_src(4, 0, 0, 5, 0));
	pr("ssc flags=4,badlisn rc=%d\n", set_src(4, 0x2000, 0, 5, 0));
	pr("ssc badlisn rc=%d\n", set_src(0, 0x2000, 0, 5, 0));
	pr("ssc lisn=800 rc=%d\n", set_src(0, 0x800, 0, 5, 0));
	pr("ssc badlisn,prio=ff rc=%d\n", set_src(0, 0x2000, 99, 0xff, 0));
	pr("ssc prio=ff,badtarget rc=%d\n", set_src(2, 0, 99, 0xff, 0x55));
	show_src_cfg("ssc", 0, 0);
	pr("ssc prio=7 rc=%d\n", set_src(0, 0, 0, 7, 0));
	pr("ssc prio=8 rc=%d\n", set_src(0, 0, 0, 8, 0));
	pr("ssc prio=fe rc=%d\n", set_src(0, 0, 0, 0xfe, 0));
	pr("ssc prio=100 rc=%d\n", set_src(0, 0, 0, 0x100, 0));
	pr("ssc prio=7,badtarget rc=%d\n", set_src(0, 0, 99, 7, 0));
	pr("ssc badtarget rc=%d\n", set_src(0, 0, 99, 5, 0));
	pr("ssc target=2 rc=%d\n", set_src(0, 0, 2, 5, 0));
	pr("ssc target=-1 rc=%d\n", set_src(0, 0, NONE, 5, 0));
	pr("ssc target=0,prio=6 rc=%d\n", set_src(0, 0, 0, 6, 0));
	show_src_cfg("ssc", 0, 0);
	/* no queue configured yet for (0, 6): the EAS is still set */
	pr("ssc set_eisn rc=%d\n", set_src(2, 0, 0, 6, 0x12345));
	show_src_cfg("ssc", 0, 0);
	pr("ssc mask rc=%d\n", set_src(1, 0, 0, 4, 0x999));
	show_src_cfg("ssc", 0, 0);
	pr("ssc eisn 31 bits rc=%d\n", set_src(2, 0, 1, 3, 0xffffffffull));
	show_src_cfg("ssc", 0, 0);
	pr("ssc eisn 64 bits rc=%d\n", set_src(2, 0, 1, 3, 0x1234567812345678ull));
	show_src_cfg("ssc", 0, 0);
	pr("ssc prio=0 rc=%d\n", set_src(2, 0, 1, 0, 0x42));
	show_src_cfg("ssc", 0, 0);
	pr("ssc mask,prio=ff rc=%d\n", set_src(3, 0, 1, 0xff, 0x77));
	show_src_cfg("ssc", 0, 0);

	/* GET_SOURCE_CONFIG errors */
	show_src_cfg("gsc flags=1", 1, 0);
	show_src_cfg("gsc badlisn", 0, 0x2000);
	show_src_cfg("gsc lisn=800", 0, 0x800);

	/* GET_QUEUE_INFO */
	r = HC3(H_INT_GET_QUEUE_INFO, 0, 0, 5);
	pr("gqi (0,5) rc=%d esb=%x qshift=%u\n", r.rc, r.r[0], r.r[1]);
	r = HC3(H_INT_GET_QUEUE_INFO, 0, 1, 0);
	pr("gqi (1,0) rc=%d esb=%x qshift=%u\n", r.rc, r.r[0], r.r[1]);
	r = HC3(H_INT_GET_QUEUE_INFO, 1, 0, 5);
	pr("gqi flags=1 rc=%d\n", r.rc);
	r = HC3(H_INT_GET_QUEUE_INFO, 0, 0, 7);
	pr("gqi prio=7 rc=%d\n", r.rc);
	r = HC3(H_INT_GET_QUEUE_INFO, 0, 0, 0xff);
	pr("gqi prio=ff rc=%d\n", r.rc);
	r = HC3(H_INT_GET_QUEUE_INFO, 0, 99, 5);
	pr("gqi target=99 rc=%d\n", r.rc);
	r = HC3(H_INT_GET_QUEUE_INFO, 0, 99, 7);
	pr("gqi target=99,prio=7 rc=%d\n", r.rc);
	r = HC3(H_INT_GET_QUEUE_INFO, 0, 2, 5);
	pr("gqi target=2 rc=%d\n", r.rc);

	/* SET_QUEUE_CONFIG errors */
	r = HC5(H_INT_SET_QUEUE_CONFIG, 2, 0, 5, (u64)q0p5, 12);
	pr("sqc flags=2 rc=%d\n", r.rc);
	r = HC5(H_INT_SET_QUEUE_CONFIG, 0, 0, 7, (u64)q0p5, 12);
	pr("sqc prio=7 rc=%d\n", r.rc);
	r = HC5(H_INT_SET_QUEUE_CONFIG, 0, 99, 5, (u64)q0p5, 12);
	pr("sqc target=99 rc=%d\n", r.rc);
	r = HC5(H_INT_SET_QUEUE_CONFIG, 0, 99, 7, (u64)q0p5, 12);
	pr("sqc target=99,prio=7 rc=%d\n", r.rc);
	r = HC5(H_INT_SET_QUEUE_CONFIG, 0, 0, 5, (u64)q0p5, 13);
	pr("sqc qshift=13 rc=%d\n", r.rc);
	r = HC5(H_INT_SET_QUEUE_CONFIG, 0, 0, 5, (u64)q0p5, 11);
	pr("sqc qshift=11 rc=%d\n", r.rc);
	r = HC5(H_INT_SET_QUEUE_CONFIG, 0, 0, 5, (u64)q0p5, 64);
	pr("sqc qshift=64 rc=%d\n", r.rc);
	r = HC5(H_INT_SET_QUEUE_CONFIG, 0, 0, 5, (u64)q0p5 + 0x800, 12);
	pr("sqc misaligned rc=%d\n", r.rc);
	r = HC5(H_INT_SET_QUEUE_CONFIG, 0, 0, 5, (u64)q0p5, 16);
	pr("sqc 64k at 4k-aligned rc=%d\n", r.rc);
	r = HC5(H_INT_SET_QUEUE_CONFIG, 0, 0, 5, 0x40000000, 12);
	pr("sqc beyond ram rc=%d\n", r.rc);
	r = HC5(H_INT_SET_QUEUE_CONFIG, 0, 0, 5, 0x1fffff000ull, 12);
	pr("sqc far beyond ram rc=%d\n", r.rc);
	r = HC5(H_INT_SET_QUEUE_CONFIG, 0, 0, 5, 0x1fff0000, 16);
	pr("sqc last 64k of ram rc=%d\n", r.rc);
	r = HC5(H_INT_SET_QUEUE_CONFIG, 0, 0, 5, 0x1000000, 21);
	pr("sqc 2M rc=%d\n", r.rc);
	show_q_cfg("sqc", 0, 0, 5, 0x1000000);
	r = HC5(H_INT_SET_QUEUE_CONFIG, 0, 0, 5, 0x1000000, 24);
	pr("sqc 16M rc=%d\n", r.rc);
	show_q_cfg("sqc", 0, 0, 5, 0x1000000);
	r = HC5(H_INT_SET_QUEUE_CONFIG, 0, 0, 5, 0x1200000, 24);
	pr("sqc 16M misaligned rc=%d\n", r.rc);
	r = HC5(H_INT_SET_QUEUE_CONFIG, 0, 0, 5, (u64)q64k, 16);
	pr("sqc 64k rc=%d\n", r.rc);
	show_q_cfg("sqc", 0, 0, 5, (u64)q64k);
	r = HC3(H_INT_GET_QUEUE_INFO, 0, 0, 5);
	pr("gqi (0,5) after config rc=%d esb=%x qshift=%u\n", r.rc, r.r[0], r.r[1]);
	r = HC5(H_INT_SET_QUEUE_CONFIG, 0, 0, 5, 0, 0);
	pr("sqc reset rc=%d\n", r.rc);
	show_q_cfg("sqc", 0, 0, 5, 0);
	show_q_cfg("sqc", 1, 0, 5, 0);
	r = HC5(H_INT_SET_QUEUE_CONFIG, 0, 0, 5, 0x123, 0);
	pr("sqc reset with qpage rc=%d\n", r.rc);
	show_q_cfg("sqc", 0, 0, 5, 0);
	r = HC5(H_INT_SET_QUEUE_CONFIG, 1, 0, 5, (u64)q0p5, 12);
	pr("sqc always_notify rc=%d\n", r.rc);
	show_q_cfg("sqc", 0, 0, 5, (u64)q0p5);
	show_q_cfg("sqc", 1, 0, 5, (u64)q0p5);

	/* GET_QUEUE_CONFIG errors */
	show_q_cfg("gqc flags=2", 2, 0, 5, 0);
	show_q_cfg("gqc prio=7", 0, 0, 7, 0);
	show_q_cfg("gqc target=99", 0, 99, 5, 0);
	show_q_cfg("gqc unconfigured", 0, 1, 1, 0);

	/* Reporting line */
	r = HC2(H_INT_SET_OS_REPORTING_LINE, 0, 0x1000);
	pr("set_os_reporting_line rc=%d\n", r.rc);
	r = HC3(H_INT_GET_OS_REPORTING_LINE, 0, 0, 0);
	pr("get_os_reporting_line rc=%d\n", r.rc);

	/* H_INT_ESB errors */
	r = HC4(H_INT_ESB, 2, 0, 0x800, 0);
	pr("esb flags=2 rc=%d\n", r.rc);
	r = HC4(H_INT_ESB, 0, 0x2000, 0x800, 0);
	pr("esb badlisn rc=%d\n", r.rc);
	r = HC4(H_INT_ESB, 0, 0, 0x10000, 0);
	pr("esb off=10000 rc=%d val=%x\n", r.rc, r.rc ? 0 : r.r[0]);
	r = HC4(H_INT_ESB, 0, 0, 0x10008, 0);
	pr("esb off=10008 rc=%d val=%x\n", r.rc, r.rc ? 0 : r.r[0]);
	r = HC4(H_INT_ESB, 0, 0, 0x20000, 0);
	pr("esb off=20000 rc=%d val=%x\n", r.rc, r.rc ? 0 : r.r[0]);
	r = HC4(H_INT_ESB, 0, 0, 0x20008, 0);
	pr("esb off=20008 rc=%d\n", r.rc);
	r = HC4(H_INT_ESB, 0, 0, NONE, 0);
	pr("esb off=-1 rc=%d\n", r.rc);

	/* SYNC */
	r = HC2(H_INT_SYNC, 1, 0);
	pr("sync flags=1 rc=%d\n", r.rc);
	r = HC2(H_INT_SYNC, 0, 0x2000);
	pr("sync badlisn rc=%d\n", r.rc);
	r = HC2(H_INT_SYNC, 0, 0x800);
	pr("sync lisn=800 rc=%d\n", r.rc);
	r = HC2(H_INT_SYNC, 0, 0);
	pr("sync rc=%d\n", r.rc);

	/* RESET flags */
	r = HC1(H_INT_RESET, 1);
	pr("reset flags=1 rc=%d\n", r.rc);
}

static void esb_tests(void)
{
	struct hret r;
	static const u64 loads[] = {0x000, 0x3f8, 0x400, 0x7f8, 0x800, 0xbf8, 0xc00, 0xcf8,
				    0xd00, 0xdf8, 0xe00, 0xe40, 0xef8, 0xf00, 0xff8, 0x1800,
				    0xfc00, 0xf800};
	unsigned i;

	q_init(&Q0P5, q0p5, 1024);
	r = HC5(H_INT_SET_QUEUE_CONFIG, 1, 0, 5, (u64)q0p5, 12);
	pr("esb queue (0,5) rc=%d\n", r.rc);
	pr("esb route lisn0 rc=%d\n", set_src(2, 0, 0, 5, 0x100));
	pr("esb initial pq=%x\n", pq(&SRC0));
	trig(&SRC0);
	pr("esb trigger in 01: pq=%x\n", pq(&SRC0));
	q_show("esb", &Q0P5);
	pr("esb set00 old=%x pq=%x\n", esb_ld(&SRC0, 0xc00), pq(&SRC0));
	trig(&SRC0);
	pr("esb trigger: pq=%x\n", pq(&SRC0));
	q_show("esb", &Q0P5);
	trig(&SRC0);
	pr("esb trigger again: pq=%x\n", pq(&SRC0));
	q_show("esb", &Q0P5);
	trig(&SRC0);
	pr("esb trigger 3rd: pq=%x\n", pq(&SRC0));
	pr("esb load-eoi=%x pq=%x\n", esb_ld(&SRC0, 0x000), pq(&SRC0));
	q_show("esb", &Q0P5);
	pr("esb load-eoi=%x pq=%x\n", esb_ld(&SRC0, 0x000), pq(&SRC0));
	pr("esb load-eoi in 00=%x pq=%x\n", esb_ld(&SRC0, 0x000), pq(&SRC0));
	q_show("esb", &Q0P5);
	pr("esb set01 old=%x\n", esb_ld(&SRC0, 0xd00));
	trig(&SRC0);
	pr("esb trigger in 01: pq=%x\n", pq(&SRC0));
	pr("esb load-eoi in 01=%x pq=%x\n", esb_ld(&SRC0, 0x000), pq(&SRC0));
	q_show("esb", &Q0P5);

	/* Every load offset kind, starting each from PQ=11 (no forwarding happens from 11
	 * except through EOI) */
	for (i = 0; i < sizeof(loads) / sizeof(loads[0]); i++) {
		u64 old = esb_ld(&SRC0, 0xf00), v;
		v = esb_ld(&SRC0, loads[i]);
		pr("esb from11 load %x -> %x pq=%x (old %x)\n", loads[i], v, pq(&SRC0), old);
		q_show("esb", &Q0P5);
	}
	/* From 00 too */
	for (i = 0; i < sizeof(loads) / sizeof(loads[0]); i++) {
		u64 v;
		esb_ld(&SRC0, 0xc00);
		v = esb_ld(&SRC0, loads[i]);
		pr("esb from00 load %x -> %x pq=%x\n", loads[i], v, pq(&SRC0));
		q_show("esb", &Q0P5);
	}
	/* Stores on the management page */
	{
		static const u64 stores[] = {0x000, 0x3f8, 0x400, 0x7f8, 0x800, 0xbf8, 0xc00,
					     0xd00, 0xe00, 0xe40, 0xf00, 0xff8, 0x1000};
		for (i = 0; i < sizeof(stores) / sizeof(stores[0]); i++) {
			esb_ld(&SRC0, 0xc00);
			esb_st(&SRC0, stores[i], 0x1234);
			pr("esb from00 store %x -> pq=%x", stores[i], pq(&SRC0));
			q_list(&Q0P5);
			esb_ld(&SRC0, 0xe00);
			esb_st(&SRC0, stores[i], 0);
			pr("esb from10 store %x -> pq=%x", stores[i], pq(&SRC0));
			q_list(&Q0P5);
		}
	}
	/* Trigger page: loads and stores at several offsets */
	esb_ld(&SRC0, 0xc00);
	pr("esb trigger-page load 0 -> %x pq=%x\n", mmio_ld64(SRC0.trig), pq(&SRC0));
	pr("esb trigger-page load 800 -> %x pq=%x\n", mmio_ld64(SRC0.trig + 0x800), pq(&SRC0));
	{
		static const u64 toffs[] = {0x0, 0x400, 0x800, 0xc00, 0xff8, 0x8000, 0xfff8};
		for (i = 0; i < sizeof(toffs) / sizeof(toffs[0]); i++) {
			esb_ld(&SRC0, 0xc00);
			mmio_st64(SRC0.trig + toffs[i], 0xffffffffffffffffull);
			pr("esb trigger-page store %x -> pq=%x\n", toffs[i], pq(&SRC0));
			q_show("esb", &Q0P5);
		}
	}

	/* H_INT_ESB on the same source */
	esb_ld(&SRC0, 0xc00);
	{
		static const u64 hoffs[] = {0x800, 0xe00, 0x000, 0xf00, 0x000, 0x000, 0xd00, 0xc00,
					    0x1800, 0xfff8};
		for (i = 0; i < sizeof(hoffs) / sizeof(hoffs[0]); i++) {
			r = HC4(H_INT_ESB, 0, 0, hoffs[i], 0);
			pr("hesb load %x rc=%d val=%x pq=%x\n", hoffs[i], r.rc, r.r[0], pq(&SRC0));
			q_show("hesb", &Q0P5);
		}
		r = HC4(H_INT_ESB, 1, 0, 0x000, 0);
		pr("hesb store 0 rc=%d r4=%x pq=%x\n", r.rc, r.r[0], pq(&SRC0));
		q_show("hesb", &Q0P5);
		r = HC4(H_INT_ESB, 1, 0, 0xe00, 0);
		pr("hesb store e00 rc=%d r4=%x pq=%x\n", r.rc, r.r[0], pq(&SRC0));
		r = HC4(H_INT_ESB, 1, 0, 0x400, 0);
		pr("hesb store 400 rc=%d r4=%x pq=%x\n", r.rc, r.r[0], pq(&SRC0));
		q_show("hesb", &Q0P5);
		r = HC4(H_INT_ESB, 1, 0, 0xc00, 0);
		pr("hesb store c00 rc=%d r4=%x pq=%x\n", r.rc, r.r[0], pq(&SRC0));
	}

	/* Masked EAS: events are dropped at the router but PQ still moves */
	pr("esb mask eas rc=%d\n", set_src(1, 0, 0, 5, 0));
	trig(&SRC0);
	pr("esb trigger with masked eas: pq=%x\n", pq(&SRC0));
	q_show("esb", &Q0P5);
	pr("esb unmask rc=%d\n", set_src(0, 0, 0, 5, 0));
	show_src_cfg("esb", 0, 0);
	pr("esb load-eoi=%x pq=%x\n", esb_ld(&SRC0, 0x000), pq(&SRC0));
	q_show("esb", &Q0P5);
	/* prio 0xff masks */
	pr("esb prio ff rc=%d\n", set_src(0, 0, 0, 0xff, 0));
	show_src_cfg("esb", 0, 0);
	esb_ld(&SRC0, 0xc00);
	trig(&SRC0);
	pr("esb trigger with prio ff: pq=%x\n", pq(&SRC0));
	q_show("esb", &Q0P5);
	/* Routed to a priority without a queue */
	pr("esb route to (0,4) rc=%d\n", set_src(2, 0, 0, 4, 0x104));
	esb_ld(&SRC0, 0xc00);
	trig(&SRC0);
	pr("esb trigger to queueless END: pq=%x\n", pq(&SRC0));
	tima_show("esb");
	q_show("esb", &Q0P5);
	esb_ld(&SRC0, 0xc00);
	pr("esb route back rc=%d\n", set_src(2, 0, 0, 5, 0x100));
}

static void wrap_tests(void)
{
	struct hret r;
	u32 i, e, n, bad, last;
	/* A 4 KiB queue at priority 3: 1024 entries. */
	q_init(&Q0P3, q0p3, 1024);
	r = HC5(H_INT_SET_QUEUE_CONFIG, 1, 0, 3, (u64)q0p3, 12);
	pr("wrap queue (0,3) rc=%d\n", r.rc);
	show_q_cfg("wrap", 1, 0, 3, (u64)q0p3);
	esb_ld(&SRC0, 0xc00);
	/* Round 1: 700 events, each with its own EISN. */
	for (i = 1; i <= 700; i++) {
		set_src(2, 0, 0, 3, i);
		trig(&SRC0);
		esb_ld(&SRC0, 0xc00);
	}
	show_q_cfg("wrap after 700", 1, 0, 3, (u64)q0p3);
	pr("wrap raw[0]=%x raw[699]=%x raw[700]=%x\n", (u64)ld_be32(&q0p3[0]),
	   (u64)ld_be32(&q0p3[699]), (u64)ld_be32(&q0p3[700]));
	n = 0;
	bad = 0;
	last = 0;
	while (q_pop(&Q0P3, &e)) {
		n++;
		if (e != last + 1)
			bad++;
		last = e;
	}
	pr("wrap drained %u out-of-order %u last %u idx %u toggle %u\n", (u64)n, (u64)bad,
	   (u64)last, (u64)Q0P3.idx, (u64)Q0P3.toggle);
	/* Round 2: 700 more; the producer wraps after 324 and flips its generation. */
	for (i = 701; i <= 1400; i++) {
		set_src(2, 0, 0, 3, i);
		trig(&SRC0);
		esb_ld(&SRC0, 0xc00);
	}
	show_q_cfg("wrap after 1400", 1, 0, 3, (u64)q0p3);
	pr("wrap raw[0]=%x raw[375]=%x raw[376]=%x raw[1023]=%x\n", (u64)ld_be32(&q0p3[0]),
	   (u64)ld_be32(&q0p3[375]), (u64)ld_be32(&q0p3[376]), (u64)ld_be32(&q0p3[1023]));
	n = 0;
	bad = 0;
	while (q_pop(&Q0P3, &e)) {
		n++;
		if (e != last + 1)
			bad++;
		last = e;
	}
	pr("wrap drained %u out-of-order %u last %u idx %u toggle %u\n", (u64)n, (u64)bad,
	   (u64)last, (u64)Q0P3.idx, (u64)Q0P3.toggle);
	/* Round 3: overflow — 1030 events without consuming: the producer overwrites. */
	for (i = 2001; i <= 3030; i++) {
		set_src(2, 0, 0, 3, i);
		trig(&SRC0);
		esb_ld(&SRC0, 0xc00);
	}
	show_q_cfg("wrap after overflow", 1, 0, 3, (u64)q0p3);
	pr("wrap raw[375]=%x raw[376]=%x raw[381]=%x raw[382]=%x\n", (u64)ld_be32(&q0p3[375]),
	   (u64)ld_be32(&q0p3[376]), (u64)ld_be32(&q0p3[381]), (u64)ld_be32(&q0p3[382]));
	/* Reconfiguring the queue resets index and generation. */
	r = HC5(H_INT_SET_QUEUE_CONFIG, 1, 0, 3, (u64)q0p3, 12);
	pr("wrap reconfig rc=%d\n", r.rc);
	show_q_cfg("wrap reconfig", 1, 0, 3, (u64)q0p3);
	q_init(&Q0P3, q0p3, 1024);
	set_src(2, 0, 0, 3, 0x33);
	trig(&SRC0);
	esb_ld(&SRC0, 0xc00);
	pr("wrap raw[0]=%x\n", (u64)ld_be32(&q0p3[0]));
	q_show("wrap", &Q0P3);
	/* Back to priority 5. */
	set_src(2, 0, 0, 5, 0x100);
}

static void tima_drain(const char *tag)
{
	int i;
	tima_show(tag);
	for (i = 0; i < 10; i++) {
		u64 a;
		set_cppr(0xff);
		a = ack();
		pr("%s ack=%x\n", tag, a);
		if (!(a & 0x8000))
			break;
	}
	set_cppr(0xff);
	tima_show(tag);
}

static void tima_tests(void)
{
	struct hret r;
	tima_drain("tima drain");
	pr("tima load64 10=%x\n", mmio_ld64(tima + 0x10));
	pr("tima load32 00=%x 20=%x 30=%x\n", (u64)mmio_ld32(tima + 0x00),
	   (u64)mmio_ld32(tima + 0x20), (u64)mmio_ld32(tima + 0x30));
	pr("tima load32 18=%x 1c=%x\n", (u64)mmio_ld32(tima + 0x18), (u64)mmio_ld32(tima + 0x1c));
	pr("tima load8 11=%x load16 10=%x\n", (u64)mmio_ld8(tima + 0x11),
	   (u64)mmio_ld16(tima + 0x10));
	set_cppr(3);
	tima_show("cppr=3");
	trig(&SRC0);
	tima_show("trigger prio5 under cppr3");
	set_cppr(6);
	tima_show("cppr=6");
	set_cppr(4);
	tima_show("cppr=4");
	pr("tima ack=%x\n", ack());
	tima_show("after ack");
	pr("tima ack again=%x\n", ack());
	tima_show("after 2nd ack");
	q_show("tima", &Q0P5);
	esb_ld(&SRC0, 0xc00);
	set_cppr(0xff);
	tima_show("cppr=ff");
	set_cppr(9);
	tima_show("cppr=9");
	set_cppr(7);
	tima_show("cppr=7");
	set_cppr(0xff);

	/* Two priorities: LISN 0 at 5, LISN 1 (cpu1's IPI, borrowed) at 2 */
	q_init(&Q0P2, q0p2, 1024);
	r = HC5(H_INT_SET_QUEUE_CONFIG, 1, 0, 2, (u64)q0p2, 12);
	pr("tima queue (0,2) rc=%d\n", r.rc);
	pr("tima route lisn1 rc=%d\n", set_src(2, 1, 0, 2, 0x300));
	pr("tima lisn1 set00 old=%x\n", esb_ld(&SRC1, 0xc00));
	trig(&SRC0);
	tima_show("prio5 pending");
	trig(&SRC1);
	tima_show("prio2 pending");
	pr("tima ack=%x\n", ack());
	tima_show("acked 2");
	set_cppr(0xff);
	tima_show("cppr=ff");
	pr("tima ack=%x\n", ack());
	tima_show("acked 5");
	q_show("tima p2", &Q0P2);
	q_show("tima p5", &Q0P5);
	esb_ld(&SRC0, 0xc00);
	pr("tima lisn1 set01 old=%x\n", esb_ld(&SRC1, 0xd00));
	set_cppr(0xff);

	/* SET_OS_PENDING and an unknown special offset */
	mmio_st8(tima + 0x812, 4);
	tima_show("os-pending 4");
	pr("tima ack=%x\n", ack());
	tima_show("acked");
	set_cppr(0xff);
	pr("tima load 818=%x\n", mmio_ld64(tima + 0x818));
	pr("tima load16 830=%x\n", (u64)mmio_ld16(tima + 0x830));
	/* Raw stores from the OS page only change the CPPR byte */
	mmio_st32(tima + 0x10, 0x11053344);
	tima_show("store32 10 (cppr 5)");
	mmio_st64(tima + 0x10, 0x11ff334455667788ull);
	tima_show("store64 10 (cppr ff)");
	mmio_st32(tima + 0x10, 0x11223344);
	tima_show("store32 10 (cppr 22)");
	mmio_st8(tima + 0x12, 0x80);
	tima_show("store8 12");
	/* IPB is not settable; a 2-byte load elsewhere is invalid */
	pr("tima load16 812=%x\n", (u64)mmio_ld16(tima + 0x812));
	set_cppr(0xff);
}

static void ipi_tests(void)
{
	struct hret r;
	s64 rc;
	u32 e;
	int ok;
	q_init(&Q1P5, q1p5, 1024);
	r = HC5(H_INT_SET_QUEUE_CONFIG, 1, 1, 5, (u64)q1p5, 12);
	pr("ipi queue (1,5) rc=%d\n", r.rc);
	pr("ipi route lisn1 rc=%d\n", set_src(2, 1, 1, 5, 0x201));
	pr("ipi route lisn0 rc=%d\n", set_src(2, 0, 0, 5, 0x200));
	pr("ipi lisn1 set00 old=%x\n", esb_ld(&SRC1, 0xc00));
	esb_ld(&SRC0, 0xc00);
	set_cppr(0xff);
	SH.step = 0;
	SH.done = 0;
	barrier();
	rc = start_cpu(1);
	pr("ipi start-cpu(1) rc=%d\n", rc);
	ok = wait_eq(&SH.done, 1, 10);
	pr("ipi cpu1 up=%d tima_w0=%x\n", (s64)ok, SH.w0_start);
	tima_show("ipi cpu0 before");
	trig(&SRC1);
	SH.step = 1;
	barrier();
	ok = wait_eq(&SH.done, 2, 10);
	pr("ipi cpu1 done=%d found=%u eisn=%x\n", (s64)ok, (u64)SH.found, SH.qentry);
	pr("ipi cpu1 tima_w0 noted=%x ack=%x acked=%x\n", SH.w0_noted, SH.ackv, SH.w0_acked);
	pr("ipi cpu1 eoi old=%x pq=%x\n", SH.eoi_old, SH.pq_after);
	/* cpu1 triggered our IPI */
	{
		u64 t0 = mftb();
		int got = 0;
		while (mftb() - t0 < 5ul * 512000000ul && !(got = q_pop(&Q0P5, &e)))
			;
		pr("ipi cpu0 got=%d eisn=%x\n", (s64)got, got ? (u64)e : 0);
	}
	tima_show("ipi cpu0 noted");
	pr("ipi cpu0 ack=%x\n", ack());
	esb_ld(&SRC0, 0xc00);
	set_cppr(0xff);
	/* The other vCPU's state is invisible in our TIMA */
	pr("ipi lisn1 pq=%x\n", pq(&SRC1));
	SH.step = 2;
	barrier();
	ok = wait_eq(&SH.done, 3, 10);
	pr("ipi cpu1 finished=%d\n", (s64)ok);
	/* Source config of an IPI targeted at cpu1 */
	show_src_cfg("ipi", 0, 1);
	show_q_cfg("ipi", 1, 1, 5, (u64)q1p5);
}

static void reset_tests(void)
{
	struct hret r;
	r = HC2(H_INT_SYNC, 0, 0);
	pr("sync lisn0 rc=%d\n", r.rc);
	r = HC2(H_INT_SYNC, 0, 1);
	pr("sync lisn1 rc=%d\n", r.rc);
	esb_ld(&SRC0, 0xe00);
	r = HC1(H_INT_RESET, 0);
	pr("reset rc=%d\n", r.rc);
	show_src_cfg("reset", 0, 0);
	show_src_cfg("reset", 0, 1);
	pr("reset pq lisn0=%x lisn1=%x\n", pq(&SRC0), pq(&SRC1));
	show_q_cfg("reset", 1, 0, 5, (u64)q0p5);
	show_q_cfg("reset", 1, 1, 5, (u64)q1p5);
	show_q_cfg("reset", 1, 0, 3, (u64)q0p3);
	tima_show("reset");
	get_source("reset", 0, 0);
	/* Usable again after reset */
	q_init(&Q0P5, q0p5, 1024);
	r = HC5(H_INT_SET_QUEUE_CONFIG, 1, 0, 5, (u64)q0p5, 12);
	pr("reset requeue rc=%d\n", r.rc);
	pr("reset reroute rc=%d\n", set_src(2, 0, 0, 5, 0x500));
	esb_ld(&SRC0, 0xc00);
	trig(&SRC0);
	q_show("reset", &Q0P5);
}

void test_main(void)
{
	struct hret r;
	u32 method = 0, rc;

	r = HC1(H_INT_RESET, 0);
	pr("precas int_reset rc=%d\n", r.rc);
	r = HC2(H_INT_GET_SOURCE_INFO, 0, 0);
	pr("precas get_source_info rc=%d\n", r.rc);
	rc = of_cas(0x40, &method);
	pr("cas rc=%x method=%x\n", (u64)rc, (u64)method);
	pr("rtas init=%d\n", (s64)rtas_init());
	dt_facts();
	if (!tima) {
		pr("no TIMA address\n");
		return;
	}
	tima_show("initial");
	get_source("src", 0, &SRC0);
	get_source("src", 1, &SRC1);
	get_source("src", 2, 0);
	get_source("src", 3, 0);
	/* QEMU's event sources (papr-hv has none): information only */
	get_source("info src", 0x1000, 0);
	get_source("info src", 0x1001, 0);
	get_source("src", 0xfff, 0);
	show_src_cfg("initial", 0, 0);
	show_src_cfg("initial", 0, 1);
	pr("initial pq lisn0=%x lisn1=%x\n", pq(&SRC0), pq(&SRC1));
	hcall_errors();
	esb_tests();
	wrap_tests();
	tima_tests();
	ipi_tests();
	reset_tests();
}
