/* libFuzzer target: the wire decoder (lib/wire.h) on any bytes. */
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wire_msg m;
	char err[200];

	if (wire_decode(data, size, &m, err, sizeof(err)) == 0)
		wire_msg_free(&m);
	return 0;
}
