/* A raw NBD client for tests: blocking socket I/O that speaks the wire
 * format byte by byte, written from the protocol document independently of
 * the server's own structures. Every call fails the test (ck_assert) on a
 * short read or write; a receive timeout keeps a stuck server from hanging
 * the suite. */
#ifndef CRYPTBLK_TEST_HELPER_NBDCLIENT_H
#define CRYPTBLK_TEST_HELPER_NBDCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NBDC_OPT_MAGIC	  0x49484156454f5054ull
#define NBDC_REPLY_MAGIC  0x0003e889045565a9ull
#define NBDC_REQ_MAGIC	  0x25609513u
#define NBDC_SIMPLE_MAGIC 0x67446698u
#define NBDC_CHUNK_MAGIC  0x668e33efu

struct nbdc_opt_reply {
	uint32_t option;
	uint32_t type;
	uint32_t len;
	uint8_t data[8192];
};

struct nbdc_reply {
	bool structured;
	uint16_t flags; /* chunk flags */
	uint16_t type;	/* chunk type */
	uint32_t error; /* simple reply error, or the error chunk's error */
	uint64_t handle;
	uint32_t len;	  /* chunk payload length */
	uint8_t *payload; /* malloc'ed chunk payload, or NULL */
};

void nbdc_set_timeout(int fd, int seconds);
void nbdc_write_all(int fd, const void *buf, size_t len);
void nbdc_read_all(int fd, void *buf, size_t len);
/* true if the peer closed the connection (after draining what is left) */
bool nbdc_wait_eof(int fd);

uint64_t nbdc_be64(const uint8_t *p);
uint32_t nbdc_be32(const uint8_t *p);
uint16_t nbdc_be16(const uint8_t *p);
void nbdc_put64(uint8_t *p, uint64_t v);
void nbdc_put32(uint8_t *p, uint32_t v);
void nbdc_put16(uint8_t *p, uint16_t v);

/* Read the 18-byte greeting, check its magics, return the handshake flags. */
uint16_t nbdc_greeting(int fd);
void nbdc_client_flags(int fd, uint32_t flags);
void nbdc_opt_send(int fd, uint32_t option, const void *data, uint32_t len);
void nbdc_opt_reply(int fd, struct nbdc_opt_reply *r);
/* Send an option and expect exactly one reply of `type`. */
void nbdc_opt_expect(int fd, uint32_t option, const void *data, uint32_t len, uint32_t type);
/* Build NBD_OPT_GO/INFO data: name, then the info request list. */
size_t nbdc_info_data(uint8_t *out, const char *name, const uint16_t *infos, uint16_t nr);
/* Build meta context data: export name and the queries. */
size_t nbdc_meta_data(uint8_t *out, const char *name, const char *const *queries, uint32_t nr);

/* Full negotiation: greeting, fixed newstyle + no zeroes, optional
 * structured replies and base:allocation, NBD_OPT_GO. Returns the export
 * size; *flags gets the transmission flags. */
uint64_t nbdc_negotiate(int fd, bool structured, bool meta, uint16_t *flags);

/* The options after the greeting and client flags (also over a connection
 * upgraded to TLS): optional structured replies and base:allocation, then
 * NBD_OPT_GO. Returns the export size; *flags gets the transmission flags. */
uint64_t nbdc_go(int fd, bool structured, bool meta, uint16_t *flags);

void nbdc_request(int fd, uint16_t type, uint16_t flags, uint64_t handle, uint64_t offset,
		  uint32_t len, const void *payload);
/* Read one reply message header (simple reply or chunk) and a chunk's
 * payload. A simple reply's read data is not read: use nbdc_read_all. */
void nbdc_reply(int fd, struct nbdc_reply *r);
void nbdc_reply_free(struct nbdc_reply *r);

/* Whole operations against an export, checking the reply handle. */
uint32_t nbdc_pread(int fd, bool structured, uint64_t handle, void *buf, uint32_t len,
		    uint64_t offset);
uint32_t nbdc_pwrite(int fd, uint64_t handle, uint16_t flags, const void *buf, uint32_t len,
		     uint64_t offset);
/* A command without payload in either direction (flush, trim, zeroes, cache). */
uint32_t nbdc_cmd(int fd, uint16_t type, uint16_t flags, uint64_t handle, uint64_t offset,
		  uint32_t len);

#endif
