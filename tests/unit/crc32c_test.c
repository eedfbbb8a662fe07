#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"

/* Not in the header: the two paths behind crc32c(), checked one by one. */
uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t len);
uint32_t crc32c_hw(uint32_t crc, const void *buf, size_t len);
int crc32c_hw_available(void);

#define CHECK_INPUT "123456789"
#define CHECK_VALUE 0xE3069283u

/* Bit at a time, straight from the definition: the reference for the rest. */
static uint32_t
crc32c_bitwise(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	crc = ~crc;
	while (len-- > 0) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
	}
	return ~crc;
}

static void
fill_random(unsigned char *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++) {
		seed = seed * 1103515245u + 12345u;
		buf[i] = (unsigned char)(seed >> 16);
	}
}

Test(crc32c, check_value)
{
	cr_assert_eq(crc32c(0, CHECK_INPUT, 9), CHECK_VALUE);
	cr_assert_eq(crc32c_sw(0, CHECK_INPUT, 9), CHECK_VALUE);
	cr_assert_eq(crc32c_bitwise(0, CHECK_INPUT, 9), CHECK_VALUE);
}

Test(crc32c, empty_input_keeps_crc)
{
	cr_assert_eq(crc32c(0, "", 0), 0);
	cr_assert_eq(crc32c(CHECK_VALUE, "", 0), CHECK_VALUE);
	cr_assert_eq(crc32c_sw(0x12345678u, NULL, 0), 0x12345678u);
}

/* Known answers from RFC 3720 (iSCSI), appendix B.4. */
Test(crc32c, rfc3720_vectors)
{
	unsigned char buf[32];

	memset(buf, 0, sizeof(buf));
	cr_assert_eq(crc32c(0, buf, sizeof(buf)), 0x8A9136AAu);
	cr_assert_eq(crc32c_sw(0, buf, sizeof(buf)), 0x8A9136AAu);
	memset(buf, 0xff, sizeof(buf));
	cr_assert_eq(crc32c(0, buf, sizeof(buf)), 0x62A8AB43u);
	cr_assert_eq(crc32c_sw(0, buf, sizeof(buf)), 0x62A8AB43u);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)i;
	cr_assert_eq(crc32c(0, buf, sizeof(buf)), 0x46DD794Eu);
	cr_assert_eq(crc32c_sw(0, buf, sizeof(buf)), 0x46DD794Eu);
}

Test(crc32c, incremental_equals_one_shot)
{
	unsigned char buf[1000];

	fill_random(buf, sizeof(buf), 7);
	uint32_t whole = crc32c(0, buf, sizeof(buf));

	for (size_t cut = 0; cut <= sizeof(buf); cut++) {
		uint32_t c = crc32c(0, buf, cut);

		c = crc32c(c, buf + cut, sizeof(buf) - cut);
		cr_assert_eq(c, whole, "split at %zu", cut);
		c = crc32c_sw(0, buf, cut);
		c = crc32c_sw(c, buf + cut, sizeof(buf) - cut);
		cr_assert_eq(c, whole, "software path split at %zu", cut);
	}
}

Test(crc32c, software_matches_reference)
{
	unsigned char buf[4099];

	fill_random(buf, sizeof(buf), 42);
	for (size_t len = 0; len < 64; len++)
		cr_assert_eq(crc32c_sw(0, buf, len),
		             crc32c_bitwise(0, buf, len), "len %zu", len);
	cr_assert_eq(crc32c_sw(0, buf, sizeof(buf)),
	             crc32c_bitwise(0, buf, sizeof(buf)));
}

Test(crc32c, hardware_matches_software)
{
	unsigned char buf[4099];

	if (!crc32c_hw_available())
		cr_skip_test("no SSE4.2 on this CPU");
	fill_random(buf, sizeof(buf), 99);
	/* Every alignment and tail length the 8-byte loop can meet. */
	for (size_t off = 0; off < 8; off++)
		for (size_t len = 0; len < 40; len++)
			cr_assert_eq(crc32c_hw(0, buf + off, len),
			             crc32c_sw(0, buf + off, len),
			             "off %zu len %zu", off, len);
	cr_assert_eq(crc32c_hw(0x1234u, buf, sizeof(buf)),
	             crc32c_sw(0x1234u, buf, sizeof(buf)));
}
