/* A raw NBD client for tests; see helper_nbdclient.h. */
#include "helper_nbdclient.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

void nbdc_set_timeout(int fd, int seconds)
{
	struct timeval tv = {.tv_sec = seconds};

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

void nbdc_write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		ck_assert_msg(n > 0, "nbd client: send failed: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
}

void nbdc_read_all(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = recv(fd, p, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		ck_assert_msg(n > 0, "nbd client: recv: %s", n == 0 ? "EOF" : strerror(errno));
		p += n;
		len -= (size_t)n;
	}
}

bool nbdc_wait_eof(int fd)
{
	uint8_t buf[4096];

	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n == 0)
			return true;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == ECONNRESET;
	}
}

uint64_t nbdc_be64(const uint8_t *p)
{
	return ((uint64_t)nbdc_be32(p) << 32) | nbdc_be32(p + 4);
}

uint32_t nbdc_be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

uint16_t nbdc_be16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

void nbdc_put64(uint8_t *p, uint64_t v)
{
	nbdc_put32(p, (uint32_t)(v >> 32));
	nbdc_put32(p + 4, (uint32_t)v);
}

void nbdc_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

void nbdc_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

uint16_t nbdc_greeting(int fd)
{
	uint8_t g[18];

	nbdc_read_all(fd, g, sizeof(g));
	ck_assert_uint_eq(nbdc_be64(g), 0x4e42444d41474943ull);
	ck_assert_uint_eq(nbdc_be64(g + 8), NBDC_OPT_MAGIC);
	return nbdc_be16(g + 16);
}

void nbdc_client_flags(int fd, uint32_t flags)
{
	uint8_t b[4];

	nbdc_put32(b, flags);
	nbdc_write_all(fd, b, sizeof(b));
}

void nbdc_opt_send(int fd, uint32_t option, const void *data, uint32_t len)
{
	uint8_t h[16];

	nbdc_put64(h, NBDC_OPT_MAGIC);
	nbdc_put32(h + 8, option);
	nbdc_put32(h + 12, len);
	nbdc_write_all(fd, h, sizeof(h));
	if (len)
		nbdc_write_all(fd, data, len);
}

void nbdc_opt_reply(int fd, struct nbdc_opt_reply *r)
{
	uint8_t h[20];

	nbdc_read_all(fd, h, sizeof(h));
	ck_assert_uint_eq(nbdc_be64(h), NBDC_REPLY_MAGIC);
	r->option = nbdc_be32(h + 8);
	r->type = nbdc_be32(h + 12);
	r->len = nbdc_be32(h + 16);
	ck_assert_uint_le(r->len, sizeof(r->data));
	nbdc_read_all(fd, r->data, r->len);
}

void nbdc_opt_expect(int fd, uint32_t option, const void *data, uint32_t len, uint32_t type)
{
	struct nbdc_opt_reply r;

	nbdc_opt_send(fd, option, data, len);
	nbdc_opt_reply(fd, &r);
	ck_assert_uint_eq(r.option, option);
	ck_assert_uint_eq(r.type, type);
}

size_t nbdc_info_data(uint8_t *out, const char *name, const uint16_t *infos, uint16_t nr)
{
	size_t n = strlen(name), pos = 0;

	nbdc_put32(out, (uint32_t)n);
	memcpy(out + 4, name, n);
	pos = 4 + n;
	nbdc_put16(out + pos, nr);
	pos += 2;
	for (uint16_t i = 0; i < nr; i++, pos += 2)
		nbdc_put16(out + pos, infos[i]);
	return pos;
}

size_t nbdc_meta_data(uint8_t *out, const char *name, const char *const *queries, uint32_t nr)
{
	size_t n = strlen(name), pos;

	nbdc_put32(out, (uint32_t)n);
	memcpy(out + 4, name, n);
	pos = 4 + n;
	nbdc_put32(out + pos, nr);
	pos += 4;
	for (uint32_t i = 0; i < nr; i++) {
		size_t q = strlen(queries[i]);

		nbdc_put32(out + pos, (uint32_t)q);
		memcpy(out + pos + 4, queries[i], q);
		pos += 4 + q;
	}
	return pos;
}

uint64_t nbdc_go(int fd, bool structured, bool meta, uint16_t *flags)
{
	struct nbdc_opt_reply r;
	uint8_t data[256];
	size_t len;
	uint64_t size = 0;
	bool got_export = false;

	if (structured)
		nbdc_opt_expect(fd, 8, NULL, 0, 1);
	if (meta) {
		const char *q[] = {"base:allocation"};

		len = nbdc_meta_data(data, "", q, 1);
		nbdc_opt_send(fd, 10, data, (uint32_t)len);
		nbdc_opt_reply(fd, &r);
		ck_assert_uint_eq(r.type, 4);
		nbdc_opt_reply(fd, &r);
		ck_assert_uint_eq(r.type, 1);
	}
	len = nbdc_info_data(data, "", NULL, 0);
	nbdc_opt_send(fd, 7, data, (uint32_t)len);
	for (;;) {
		nbdc_opt_reply(fd, &r);
		ck_assert_uint_eq(r.option, 7);
		if (r.type == 1)
			break;
		ck_assert_uint_eq(r.type, 3);
		if (nbdc_be16(r.data) == 0) {
			ck_assert_uint_eq(r.len, 12);
			size = nbdc_be64(r.data + 2);
			*flags = nbdc_be16(r.data + 10);
			got_export = true;
		}
	}
	ck_assert(got_export);
	return size;
}

uint64_t nbdc_negotiate(int fd, bool structured, bool meta, uint16_t *flags)
{
	nbdc_set_timeout(fd, 20);
	ck_assert_uint_eq(nbdc_greeting(fd) & 3, 3);
	nbdc_client_flags(fd, 3);
	return nbdc_go(fd, structured, meta, flags);
}

void nbdc_request(int fd, uint16_t type, uint16_t flags, uint64_t handle, uint64_t offset,
		  uint32_t len, const void *payload)
{
	uint8_t h[28];

	nbdc_put32(h, NBDC_REQ_MAGIC);
	nbdc_put16(h + 4, flags);
	nbdc_put16(h + 6, type);
	nbdc_put64(h + 8, handle);
	nbdc_put64(h + 16, offset);
	nbdc_put32(h + 24, len);
	nbdc_write_all(fd, h, sizeof(h));
	if (payload && len)
		nbdc_write_all(fd, payload, len);
}

void nbdc_reply(int fd, struct nbdc_reply *r)
{
	uint8_t h[20];
	uint32_t magic;

	memset(r, 0, sizeof(*r));
	nbdc_read_all(fd, h, 16);
	magic = nbdc_be32(h);
	if (magic == NBDC_SIMPLE_MAGIC) {
		r->error = nbdc_be32(h + 4);
		r->handle = nbdc_be64(h + 8);
		return;
	}
	ck_assert_uint_eq(magic, NBDC_CHUNK_MAGIC);
	nbdc_read_all(fd, h + 16, 4);
	r->structured = true;
	r->flags = nbdc_be16(h + 4);
	r->type = nbdc_be16(h + 6);
	r->handle = nbdc_be64(h + 8);
	r->len = nbdc_be32(h + 16);
	ck_assert_uint_le(r->len, 64u * 1024 * 1024);
	if (r->len) {
		r->payload = malloc(r->len);
		ck_assert_ptr_nonnull(r->payload);
		nbdc_read_all(fd, r->payload, r->len);
	}
	if (r->type & 0x8000) {
		ck_assert_uint_ge(r->len, 6);
		r->error = nbdc_be32(r->payload);
		ck_assert_uint_ne(r->error, 0);
		ck_assert_uint_le(nbdc_be16(r->payload + 4), r->len - 6);
	}
}

void nbdc_reply_free(struct nbdc_reply *r)
{
	free(r->payload);
	r->payload = NULL;
}

uint32_t nbdc_pread(int fd, bool structured, uint64_t handle, void *buf, uint32_t len,
		    uint64_t offset)
{
	struct nbdc_reply r;
	uint32_t err = 0;

	nbdc_request(fd, 0, 0, handle, offset, len, NULL);
	if (!structured) {
		nbdc_reply(fd, &r);
		ck_assert(!r.structured);
		ck_assert_uint_eq(r.handle, handle);
		if (r.error == 0)
			nbdc_read_all(fd, buf, len);
		return r.error;
	}
	for (;;) {
		nbdc_reply(fd, &r);
		ck_assert(r.structured);
		ck_assert_uint_eq(r.handle, handle);
		if (r.type == 1) {
			uint64_t off = nbdc_be64(r.payload);

			ck_assert_uint_ge(r.len, 9);
			ck_assert_uint_ge(off, offset);
			ck_assert_uint_le(off + (r.len - 8), offset + len);
			memcpy((uint8_t *)buf + (off - offset), r.payload + 8, r.len - 8);
		} else if (r.type & 0x8000) {
			err = r.error;
		} else {
			ck_assert_uint_eq(r.type, 0);
		}
		nbdc_reply_free(&r);
		if (r.flags & 1)
			return err;
	}
}

static uint32_t nbdc_status_reply(int fd, uint64_t handle)
{
	struct nbdc_reply r;
	uint32_t err = 0;

	for (;;) {
		nbdc_reply(fd, &r);
		ck_assert_uint_eq(r.handle, handle);
		if (!r.structured)
			return r.error;
		if (r.type & 0x8000)
			err = r.error;
		nbdc_reply_free(&r);
		if (r.flags & 1)
			return err;
	}
}

uint32_t nbdc_pwrite(int fd, uint64_t handle, uint16_t flags, const void *buf, uint32_t len,
		     uint64_t offset)
{
	nbdc_request(fd, 1, flags, handle, offset, len, buf);
	return nbdc_status_reply(fd, handle);
}

uint32_t nbdc_cmd(int fd, uint16_t type, uint16_t flags, uint64_t handle, uint64_t offset,
		  uint32_t len)
{
	nbdc_request(fd, type, flags, handle, offset, len, NULL);
	return nbdc_status_reply(fd, handle);
}
