/* CRC-32C (Castagnoli), as used by TFRecord framing in TensorBoard event
 * files. */
#ifndef MLOPT_CORE_IO_CRC32C_H
#define MLOPT_CORE_IO_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extend crc (0 for a fresh checksum) over n bytes of data.
 * mlopt_crc32c(0, "123456789", 9) == 0xE3069283. */
uint32_t mlopt_crc32c(uint32_t crc, const void *data, size_t n);

/* TFRecord stores CRCs "masked" so that a CRC of data that itself contains
 * CRCs does not degenerate: rotate right by 15 and add a constant. */
static inline uint32_t mlopt_crc32c_mask(uint32_t crc)
{
    return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

static inline uint32_t mlopt_crc32c_unmask(uint32_t masked)
{
    uint32_t rot = masked - 0xa282ead8u;
    return (rot >> 17) | (rot << 15);
}

#endif
