/*
 * XICS conformance guest (run with 2 vCPUs).
 *
 * Prints one observation per line: H_CPPR, H_EOI, H_XIRR, H_XIRR_X, H_IPI and H_IPOLL with
 * their error paths, IPI presentation, rejection by a more favoured CPPR and re-presentation
 * after a CPPR change or EOI, IPIs between the two vCPUs, and the RTAS ICS calls
 * (ibm,set-xive, ibm,get-xive, ibm,int-off, ibm,int-on) with their errors. Lines starting
 * with "info " describe the machine and are not compared.
 *
 * Neither machine offers a source the guest can trigger by itself under XICS (papr-hv's
 * tree has no device interrupts), so presentation is exercised with IPIs (the MFRR).
 */
#include "lib.h"

#define IPOLL(s) ipoll(#s, s)

static void ipoll(const char *tag, u64 server)
{
	struct hret r = HC1(H_IPOLL, server);
	if (r.rc)
		pr("ipoll(%s) rc=%d\n", tag, r.rc);
	else
		pr("ipoll(%s) rc=0 xirr=%x mfrr=%x\n", tag, r.r[0], r.r[1]);
}

static u64 xirr(const char *tag)
{
	struct hret r = HC1(H_XIRR, 0xff);
	pr("xirr %s rc=%d xirr=%x\n", tag, r.rc, r.r[0]);
	return r.r[0];
}

static void eoi(const char *tag, u64 v)
{
	pr("eoi %s (%x) rc=%d\n", tag, v, HC1(H_EOI, v).rc);
}

static void cppr(u64 v) { pr("cppr(%x) rc=%d\n", v, HC1(H_CPPR, v).rc); }

static void ipi(u64 server, u64 mfrr)
{
	pr("ipi(%x,%x) rc=%d\n", server, mfrr, HC2(H_IPI, server, mfrr).rc);
}

/* ---- RTAS ICS calls ---- */

static u32 t_set, t_get, t_off, t_on;
/* Printed before RTAS lines about sources in the ICS range that no device claimed (set at
 * run time: an initialised pointer would need a relocation). */
static const char *pfx;

static void get_xive(const char *tag, u32 irq)
{
	u32 a[1] = {irq}, r[3] = {0, 0, 0};
	s64 st = rtas_call(t_get, 1, 3, a, r);
	if (st)
		pr("%sget-xive %s (%x) status=%d\n", pfx, tag, (u64)irq, st);
	else
		pr("%sget-xive %s (%x) status=0 server=%x prio=%x\n", pfx, tag, (u64)irq,
		   (u64)r[1], (u64)r[2]);
}

static void set_xive(const char *tag, u32 irq, u32 server, u32 prio)
{
	u32 a[3] = {irq, server, prio}, r[1];
	pr("%sset-xive %s (%x,%x,%x) status=%d\n", pfx, tag, (u64)irq, (u64)server, (u64)prio,
	   rtas_call(t_set, 3, 1, a, r));
}

static void int_off(const char *tag, u32 irq)
{
	u32 a[1] = {irq}, r[1];
	pr("%sint-off %s (%x) status=%d\n", pfx, tag, (u64)irq, rtas_call(t_off, 1, 1, a, r));
}

static void int_on(const char *tag, u32 irq)
{
	u32 a[1] = {irq}, r[1];
	pr("%sint-on %s (%x) status=%d\n", pfx, tag, (u64)irq, rtas_call(t_on, 1, 1, a, r));
}

static void rtas_tests(void)
{
	u32 a[4], r[4];
	pfx = "";
	t_set = rtas_token("ibm,set-xive");
	t_get = rtas_token("ibm,get-xive");
	t_off = rtas_token("ibm,int-off");
	t_on = rtas_token("ibm,int-on");
	pr("rtas tokens set=%d get=%d off=%d on=%d\n", (s64)(t_set != 0xffffffff),
	   (s64)(t_get != 0xffffffff), (s64)(t_off != 0xffffffff), (s64)(t_on != 0xffffffff));

	/* Ownership probes (Linux probes with get-xive) */
	pfx = "ics-range ";
	get_xive("probe", 0x1000);
	get_xive("probe", 0x1500);
	get_xive("probe", 0x1fff);
	pfx = "";
	get_xive("probe", 0x2000);
	get_xive("probe", 0xfff);
	get_xive("probe", 0x10);
	get_xive("probe", 2);
	get_xive("probe", 0);
	get_xive("probe", 0xffffffff);

	/* Argument-count errors */
	a[0] = 0x1500;
	a[1] = 0;
	a[2] = 5;
	pr("get-xive nargs=2 status=%d\n", rtas_call(t_get, 2, 3, a, r));
	pr("get-xive nret=1 status=%d\n", rtas_call(t_get, 1, 1, a, r));
	pr("get-xive nret=2 status=%d\n", rtas_call(t_get, 1, 2, a, r));
	pr("set-xive nargs=2 status=%d\n", rtas_call(t_set, 2, 1, a, r));
	pr("set-xive nret=2 status=%d\n", rtas_call(t_set, 3, 2, a, r));
	pr("int-off nargs=2 status=%d\n", rtas_call(t_off, 2, 1, a, r));
	pr("int-on nargs=0 status=%d\n", rtas_call(t_on, 0, 1, a, r));
	pr("int-on nret=2 status=%d\n", rtas_call(t_on, 1, 2, a, r));
	pfx = "ics-range ";
	get_xive("untouched", 0x1500);
	pfx = "";

	/* set-xive errors */
	set_xive("bad irq", 0x2000, 0, 5);
	set_xive("bad irq", 0xfff, 0, 5);
	set_xive("bad server", 0x1500, 99, 5);
	set_xive("bad server", 0x1500, 2, 5);
	set_xive("bad prio", 0x1500, 0, 0x100);
	set_xive("bad server prio ff", 0x1500, 99, 0xff);
	pfx = "ics-range ";
	get_xive("after errors", 0x1500);
	pfx = "";
	int_off("bad irq", 0x2000);
	int_on("bad irq", 0x2000);

	/* Normal flow, on sources of the ICS range that no device claimed */
	pfx = "ics-range ";
	set_xive("route", 0x1500, 1, 5);
	get_xive("routed", 0x1500);
	int_off("", 0x1500);
	get_xive("off", 0x1500);
	int_off("again", 0x1500);
	get_xive("off twice", 0x1500);
	int_on("", 0x1500);
	get_xive("on", 0x1500);
	int_on("again", 0x1500);
	get_xive("on twice", 0x1500);
	set_xive("mask", 0x1500, 0, 0xff);
	get_xive("masked", 0x1500);
	int_on("after mask", 0x1500);
	get_xive("on after mask", 0x1500);
	set_xive("route", 0x1500, 0, 3);
	int_off("", 0x1500);
	set_xive("while off", 0x1500, 1, 6);
	get_xive("set while off", 0x1500);
	int_on("", 0x1500);
	get_xive("on", 0x1500);
	set_xive("prio 0", 0x1500, 0, 0);
	get_xive("prio 0", 0x1500);
	int_on("fresh", 0x1501);
	get_xive("fresh on", 0x1501);
	int_off("fresh", 0x1502);
	get_xive("fresh off", 0x1502);
	int_on("fresh after off", 0x1502);
	get_xive("fresh on after off", 0x1502);
	set_xive("restore", 0x1500, 0, 0xff);
	pfx = "";

	/* CPU start/stop state through RTAS */
	a[0] = 1;
	pr("query-cpu-stopped-state(1) status=%d", rtas_call(rtas_token("query-cpu-stopped-state"), 1, 2, a, r));
	pr(" state=%u\n", (u64)r[1]);
	a[0] = 9;
	pr("query-cpu-stopped-state(9) status=%d\n", rtas_call(rtas_token("query-cpu-stopped-state"), 1, 2, a, r));
}

/* ---- the second vCPU ---- */

struct shared {
	u32 step, done;
	u64 ipoll0, xirr1, eoi_rc, ipi_rc, cppr_rc, tries;
};
static volatile struct shared SH;

void test_secondary(u32 cpu)
{
	struct hret r;
	u64 t0;
	SH.cppr_rc = HC1(H_CPPR, 0xff).rc;
	barrier();
	SH.done = 1;
	barrier();
	if (!wait_eq(&SH.step, 1, 10))
		return;
	/* cpu0 set our MFRR: accept the IPI */
	t0 = mftb();
	SH.tries = 0;
	do {
		r = HC1(H_XIRR, 0xff);
		SH.tries++;
	} while ((r.r[0] & 0xffffff) == 0 && mftb() - t0 < 5ul * 512000000ul);
	SH.xirr1 = r.r[0];
	HC2(H_IPI, 1, 0xff);
	SH.eoi_rc = HC1(H_EOI, r.r[0]).rc;
	r = HC1(H_IPOLL, 0);
	SH.ipoll0 = r.r[0];
	/* and IPI cpu0 back */
	SH.ipi_rc = HC2(H_IPI, 0, 6).rc;
	barrier();
	SH.done = 2;
	barrier();
	wait_eq(&SH.step, 2, 10);
	HC1(H_CPPR, 0);
	SH.done = 3;
}

static void ipi_between_cpus(void)
{
	s64 rc;
	int ok;
	u64 x;
	SH.step = 0;
	SH.done = 0;
	barrier();
	IPOLL(1);
	rc = start_cpu(1);
	pr("start-cpu(1) rc=%d\n", rc);
	ok = wait_eq(&SH.done, 1, 10);
	pr("cpu1 up=%d cppr rc=%d\n", (s64)ok, SH.cppr_rc);
	pr("start-cpu(1) again rc=%d\n", start_cpu(1));
	pr("start-cpu(9) rc=%d\n", start_cpu(9));
	IPOLL(1);
	ipi(1, 4);
	IPOLL(1);
	IPOLL(0);
	SH.step = 1;
	barrier();
	ok = wait_eq(&SH.done, 2, 10);
	pr("cpu1 done=%d xirr=%x eoi rc=%d ipi rc=%d\n", (s64)ok, SH.xirr1, SH.eoi_rc, SH.ipi_rc);
	pr("cpu1 saw ipoll(0) xirr=%x\n", SH.ipoll0);
	IPOLL(1);
	IPOLL(0);
	x = xirr("from cpu1");
	ipi(0, 0xff);
	eoi("ipi from cpu1", x);
	IPOLL(0);
	SH.step = 2;
	barrier();
	ok = wait_eq(&SH.done, 3, 10);
	pr("cpu1 finished=%d\n", (s64)ok);
	IPOLL(1);
}

static void dt_facts(void)
{
	u32 root = of_finddevice("/"), chosen = of_finddevice("/chosen"), ic;
	u8 ov5[64];
	int n = of_getprop(chosen, "ibm,architecture-vec-5", ov5, sizeof(ov5));
	pr("dt ov5 len=%d byte23=%x byte24=%x\n", (s64)n, (u64)(n > 23 ? ov5[23] : 0xee),
	   (u64)(n > 24 ? ov5[24] : 0xee));
	ic = of_finddevice("/interrupt-controller");
	pr("dt /interrupt-controller found=%d\n", (s64)(ic != 0xffffffff));
	if (ic != 0xffffffff) {
		print_prop("dt icp", ic, "device_type", 1);
		print_prop("dt icp", ic, "compatible", 1);
		print_prop("dt icp", ic, "ibm,interrupt-server-ranges", 0);
		print_prop("dt icp", ic, "#interrupt-cells", 0);
		print_prop("dt icp", ic, "interrupt-controller", 0);
	}
	print_prop("dt /", root, "ibm,plat-res-int-priorities", 0);
	print_prop("dt cpu0", of_finddevice("/cpus/PowerPC,POWER9@0"), "ibm,ppc-interrupt-server#s", 0);
	print_prop("dt cpu0", of_finddevice("/cpus/PowerPC,POWER9@0"), "ibm,ppc-interrupt-gserver#s", 0);
	print_prop("dt cpu1", of_finddevice("/cpus/PowerPC,POWER9@1"), "ibm,ppc-interrupt-server#s", 0);
}

void test_main(void)
{
	struct hret r;
	u32 method = 0, rc;
	u64 x, tb;

	r = HC1(H_IPOLL, 0);
	pr("precas ipoll rc=%d xirr=%x mfrr=%x\n", r.rc, r.r[0], r.r[1]);
	r = HC1(H_INT_RESET, 0);
	pr("precas int_reset rc=%d\n", r.rc);
	rc = of_cas(0x00, &method);
	pr("cas rc=%x method=%x\n", (u64)rc, (u64)method);
	pr("rtas init=%d\n", (s64)rtas_init());
	dt_facts();
	r = HC1(H_INT_RESET, 0);
	pr("int_reset rc=%d\n", r.rc);
	r = HC2(H_INT_GET_SOURCE_INFO, 0, 0);
	pr("int_get_source_info rc=%d\n", r.rc);

	/* Initial state and errors */
	IPOLL(0);
	x = xirr("cppr 0, nothing pending");
	IPOLL(0);
	cppr(0);
	IPOLL(99);
	IPOLL(2);
	IPOLL(-1);
	IPOLL(0x100000000);
	ipi(99, 5);
	ipi(2, 5);
	ipi(-1, 5);
	IPOLL(0);

	/* IPI to self: masked by CPPR 0, presented once CPPR allows */
	ipi(0, 5);
	IPOLL(0);
	cppr(0xff);
	IPOLL(0);
	x = xirr("ipi at 5");
	IPOLL(0);
	x = xirr("nothing more");
	IPOLL(0);
	cppr(5);
	/* A more favoured IPI while at CPPR 5 nests */
	ipi(0, 3);
	IPOLL(0);
	x = xirr("nested ipi at 3");
	IPOLL(0);
	eoi("nested, back to cppr 5, mfrr still 3", 0x05000002);
	IPOLL(0);
	ipi(0, 0xff);
	IPOLL(0);
	x = xirr("after mfrr ff");
	eoi("nothing presented, cppr back to ff", 0xff000002);
	IPOLL(0);
	eoi("cppr ff again", 0xff000002);
	IPOLL(0);

	/* Reject and re-present */
	ipi(0, 5);
	IPOLL(0);
	cppr(4);
	IPOLL(0);
	cppr(6);
	IPOLL(0);
	cppr(5);
	IPOLL(0);
	cppr(0xff);
	IPOLL(0);
	cppr(0);
	IPOLL(0);
	cppr(0xff);
	IPOLL(0);
	/* MFRR changes while presented */
	ipi(0, 7);
	IPOLL(0);
	ipi(0, 2);
	IPOLL(0);
	ipi(0, 0xff);
	IPOLL(0);
	ipi(0, 5);
	x = xirr("accept 5");
	ipi(0, 4);
	IPOLL(0);
	x = xirr("accept 4 over 5");
	eoi("eoi 4 to cppr 5", 0x05000002);
	IPOLL(0);
	ipi(0, 0xff);
	eoi("eoi 5 to ff", 0xff000002);
	IPOLL(0);

	/* H_XIRR_X */
	ipi(0, 5);
	tb = mftb();
	r = HC1(H_XIRR_X, 0xff);
	pr("xirr_x rc=%d xirr=%x tb_ok=%d\n", r.rc, r.r[0],
	   (s64)(r.r[1] >= tb && r.r[1] - tb < 512000000ul));
	ipi(0, 0xff);
	eoi("xirr_x", r.r[0]);
	r = HC1(H_XIRR_X, 0xff);
	pr("xirr_x empty rc=%d xirr=%x tb_nonzero=%d\n", r.rc, r.r[0], (s64)(r.r[1] != 0));

	/* H_EOI variants */
	eoi("unknown source", 0xff001234);
	eoi("ics source not presented", 0xff001500);
	eoi("beyond ics", 0xff002000);
	eoi("xisr 0", 0xff000000);
	eoi("xisr 0 cppr 4", 0x04000000);
	IPOLL(0);
	eoi("cppr back to ff", 0xff000000);
	eoi("upper bits set", 0xffffffffff000000ull);
	IPOLL(0);

	/* H_CPPR edge values */
	cppr(0x105);
	IPOLL(0);
	cppr(0xffffffffffffffffull);
	IPOLL(0);
	ipi(0, 0x104);
	IPOLL(0);
	ipi(0, 0xff);
	IPOLL(0);
	x = xirr("after 0x104");
	if (x & 0xffffff)
		eoi("after 0x104", 0xff000000 | (x & 0xffffff));
	IPOLL(0);

	rtas_tests();
	ipi_between_cpus();
	(void)x;
}
