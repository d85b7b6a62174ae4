/* Random UUIDs in their lower-case text form. */
#include "uuid.h"

#include <errno.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <stdio.h>

int uuid_generate_random_str(char out[UUID_STR_LEN + 1])
{
	uint8_t u[16];

	if (RAND_bytes(u, sizeof(u)) != 1)
		return -EIO;
	u[6] = (uint8_t)((u[6] & 0x0f) | 0x40); /* version 4 */
	u[8] = (uint8_t)((u[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	snprintf(out, UUID_STR_LEN + 1,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
		 u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14],
		 u[15]);
	return 0;
}
