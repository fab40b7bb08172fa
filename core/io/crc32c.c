#include "io/crc32c.h"

#include <pthread.h>

/* Reflected Castagnoli polynomial. */
#define CRC32C_POLY 0x82F63B78u

/* Four tables for slicing-by-4: event files are small, but checkpoints of
 * TFRecord-framed data could be large and this costs 3 KiB more. */
static uint32_t crc_table[4][256];
static pthread_once_t crc_table_once = PTHREAD_ONCE_INIT;

static void crc_table_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ CRC32C_POLY : c >> 1;
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++) {
        for (int t = 1; t < 4; t++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
    }
}

uint32_t mlopt_crc32c(uint32_t crc, const void *data, size_t n)
{
    const unsigned char *p = data;
    pthread_once(&crc_table_once, crc_table_init);
    crc = ~crc;
    while (n >= 4) {
        /* Assemble little-endian explicitly so the result is host-independent. */
        crc ^= (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        crc = crc_table[3][crc & 0xff] ^ crc_table[2][(crc >> 8) & 0xff] ^
              crc_table[1][(crc >> 16) & 0xff] ^ crc_table[0][crc >> 24];
        p += 4;
        n -= 4;
    }
    while (n--)
        crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xff];
    return ~crc;
}
