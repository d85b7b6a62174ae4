/* Base64 with padding, strict on input: no whitespace, no stray characters. */
#include "b64.h"

#include <errno.h>
#include <string.h>

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_value(char c)
{
	const char *p;

	if (c == '\0')
		return -1;
	p = strchr(b64_alphabet, c);
	return p ? (int)(p - b64_alphabet) : -1;
}

int b64_decode(const char *text, uint8_t *out, size_t cap)
{
	size_t len = strlen(text), pad = 0, n = 0;

	if (len % 4 != 0)
		return -EINVAL;
	if (len >= 1 && text[len - 1] == '=')
		pad++;
	if (len >= 2 && text[len - 2] == '=')
		pad++;
	if ((len / 4) * 3 - pad > cap)
		return -E2BIG;
	for (size_t i = 0; i < len; i += 4) {
		int v[4];
		uint32_t group = 0;
		size_t keep = 3;

		for (int j = 0; j < 4; j++) {
			if (i + 4 == len && (size_t)j >= 4 - pad) {
				v[j] = 0;
				continue;
			}
			v[j] = b64_value(text[i + j]);
			if (v[j] < 0)
				return -EINVAL;
		}
		group = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
			(uint32_t)v[3];
		if (i + 4 == len) {
			keep = 3 - pad;
			/* The bits under the padding must be zero (canonical form). */
			if ((pad == 1 && (group & 0xff)) || (pad == 2 && (group & 0xffff)))
				return -EINVAL;
		}
		for (size_t k = 0; k < keep; k++)
			out[n++] = (uint8_t)(group >> (16 - 8 * k));
	}
	return (int)n;
}

size_t b64_encoded_len(size_t len)
{
	return (len + 2) / 3 * 4;
}

void b64_encode(const uint8_t *in, size_t len, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i += 3) {
		size_t left = len - i;
		uint32_t group = (uint32_t)in[i] << 16;

		if (left > 1)
			group |= (uint32_t)in[i + 1] << 8;
		if (left > 2)
			group |= in[i + 2];
		out[o++] = b64_alphabet[(group >> 18) & 63];
		out[o++] = b64_alphabet[(group >> 12) & 63];
		out[o++] = left > 1 ? b64_alphabet[(group >> 6) & 63] : '=';
		out[o++] = left > 2 ? b64_alphabet[group & 63] : '=';
	}
	out[o] = '\0';
}
