/*
 * libFuzzer target: the HTTP/JSON API's request parser
 * (coordinator/api_request.h). Input: one byte choosing the method, the
 * path up to the first newline, then the body.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "api_request.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const methods[] = {"POST", "GET", "PUT"};
	const uint8_t *nl;
	struct api_request r;
	char path[512], err[256];
	size_t plen;

	if (size < 1)
		return 0;
	nl = memchr(data + 1, '\n', size - 1);
	plen = nl != NULL ? (size_t)(nl - data - 1) : size - 1;
	if (plen >= sizeof(path))
		return 0;
	memcpy(path, data + 1, plen);
	path[plen] = '\0';
	if (api_request_parse(
	        methods[data[0] % 3], path, nl != NULL ? nl + 1 : data + size,
	        nl != NULL ? size - plen - 2 : 0, &r, err, sizeof(err)) == 0)
		api_request_free(&r);
	return 0;
}
