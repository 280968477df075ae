/* FP/vector kernel: daxpy over 4096 doubles and a float vector loop (both vectorised
 * by GCC with VSX at -O2 -mcpu=power9), n passes. */
#include "common.h"

#define N 4096
static double x[N], y[N];
static float fa[N], fb[N], fc[N];

u64 kernel(u64 n)
{
    for (u64 i = 0; i < N; i++) {
        x[i] = (double)i * 0.5;
        y[i] = 1.0;
        fa[i] = (float)i;
        fb[i] = 0.25f;
        fc[i] = 0.0f;
    }
    double alpha = 1.0000001;
    for (u64 r = 0; r < n; r++) {
        for (u64 i = 0; i < N; i++)
            y[i] = alpha * x[i] + y[i];
        for (u64 i = 0; i < N; i++)
            fc[i] = fa[i] * fb[i] + fc[i];
    }
    double s = 0;
    for (u64 i = 0; i < N; i += 64)
        s += y[i] + (double)fc[i];
    union { double d; u64 u; } v = { s };
    return v.u;
}
