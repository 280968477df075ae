/* Integer kernel: a multiply/xor/shift hash over a 16 KiB table, n passes. */
#include "common.h"

#define WORDS 2048
static u64 table[WORDS];

u64 kernel(u64 n)
{
    for (u64 i = 0; i < WORDS; i++)
        table[i] = i * 0x9E3779B97F4A7C15ul;
    u64 h = 1469598103934665603ul;
    for (u64 r = 0; r < n; r++) {
        for (u64 i = 0; i < WORDS; i++) {
            h ^= table[i];
            h *= 1099511628211ul;
            h ^= h >> 29;
        }
    }
    return h;
}
