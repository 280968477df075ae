/* Memory kernel: copies a 4 MiB buffer back and forth n times with an unrolled
 * doubleword loop (memcpy-like), touching one word between passes. */
#include "common.h"

#define WORDS ((4u << 20) / 8)
static u64 a[WORDS], b[WORDS];

static void copy(u64 *restrict d, const u64 *restrict s)
{
    for (u64 i = 0; i < WORDS; i += 4) {
        d[i] = s[i];
        d[i + 1] = s[i + 1];
        d[i + 2] = s[i + 2];
        d[i + 3] = s[i + 3];
    }
}

u64 kernel(u64 n)
{
    for (u64 i = 0; i < WORDS; i++)
        a[i] = i * 7;
    for (u64 r = 0; r < n; r++) {
        if (r & 1)
            copy(a, b);
        else
            copy(b, a);
        a[(r * 4099) % WORDS] ^= r;
    }
    u64 h = 0;
    for (u64 i = 0; i < WORDS; i += 997)
        h = h * 31 + a[i] + b[i];
    return h;
}
