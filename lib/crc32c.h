/* crc32c: CRC-32C (Castagnoli), the checksum of decision-log records. */
#ifndef XACT_CRC32C_H
#define XACT_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/*
 * Extend crc over len bytes of buf. Start with crc = 0; the result of one
 * call may be passed as crc to the next to checksum data in pieces.
 * crc32c(0, "123456789", 9) == 0xE3069283.
 */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

#endif
