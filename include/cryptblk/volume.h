/* The volume pipeline: plaintext requests in, ciphertext on the backend.
 *
 *   read:  backend read into the caller's buffer -> decrypt job in place -> done
 *   write: encrypt job into a bounce buffer the pipeline owns (or in place
 *          with VOLUME_F_CLOBBER) -> backend write -> done
 *   flush: backend flush (covers every write whose done() already ran)
 *   zero:  encrypted zeros written (a hole would decrypt to garbage), or a
 *          punched hole when the caller allows it with VOLUME_F_MAY_PUNCH
 *   trim:  a punched hole when the volume allows discards, otherwise nothing
 *
 * A request is split into chunks of at most VOLUME_CHUNK_MAX bytes, each with
 * its own crypto job and backend I/O, all in flight at once. The request's
 * done callback runs once, on the loop's thread, with 0 or the first error.
 * One volume serves one loop (thread); open one per thread over the same
 * backend.
 */
#ifndef CRYPTBLK_VOLUME_H
#define CRYPTBLK_VOLUME_H

#include <cryptblk/backend.h>
#include <cryptblk/crypto.h>
#include <cryptblk/loop.h>
#include <stdbool.h>
#include <stdint.h>

#define VOLUME_CHUNK_MAX (1024u * 1024)

/* Where the encrypted data segment sits and how its sectors are keyed. */
struct volume_layout {
	uint64_t data_offset; /* bytes from the start of the backend */
	uint64_t size;	      /* bytes of plaintext; a multiple of sector_size */
	uint32_t sector_size; /* 512, 1024, 2048 or 4096 */
	uint64_t iv_tweak;    /* added to every sector's IV */
	uint8_t key_slot;     /* engine key slot holding the volume key */
	bool iv_large_sectors;
	bool allow_discards; /* TRIM punches holes in the backend */
};

enum volume_op {
	VOLUME_READ,
	VOLUME_WRITE,
	VOLUME_FLUSH,
	VOLUME_TRIM,
	VOLUME_ZERO,
};

enum volume_req_flags {
	VOLUME_F_FUA = 1u << 0,	      /* durable before done() */
	VOLUME_F_MAY_PUNCH = 1u << 1, /* ZERO may punch a hole (reads as garbage) */
	/* WRITE may encrypt the caller's buffer in place (it holds ciphertext,
	 * or a mix after an error, when done() runs): no bounce buffer. */
	VOLUME_F_CLOBBER = 1u << 2,
};

struct volume_req;
typedef void (*volume_done_fn)(struct volume_req *req, int res);

struct volume_req {
	/* filled by the caller */
	uint8_t op;	 /* enum volume_op */
	uint32_t flags;	 /* enum volume_req_flags */
	uint64_t offset; /* bytes of plaintext; sector aligned */
	uint64_t len;	 /* bytes; sector aligned; 0 only for FLUSH */
	void *buf;	 /* READ: filled; WRITE: plaintext, unchanged unless CLOBBER */
	volume_done_fn done;
	void *priv;

	/* owned by the pipeline while in flight */
	uint32_t chunks_left;
	int error;
	struct volume *vol;
	uint64_t cursor;	 /* bytes split off into chunks so far */
	struct volume_req *next; /* the pipeline's queue of requests to split */
};

struct volume;

/* The volume keeps pointers to backend, engine and loop; the engine must be
 * attached to `loop` and hold the key in layout->key_slot. */
int volume_open(struct backend *be, struct crypto_engine *engine, struct loop *loop,
		const struct volume_layout *layout, struct volume **out);
void volume_close(struct volume *vol);

/* Start a request. Bad requests (unaligned, past the end, write to a
 * read-only backend) complete through done() with -EINVAL, -ENOSPC or -EPERM
 * like any other error, never synchronously. */
void volume_submit(struct volume *vol, struct volume_req *req);

uint64_t volume_size(const struct volume *vol);
uint32_t volume_sector_size(const struct volume *vol);
bool volume_read_only(const struct volume *vol);
/* Requests started and not yet done. */
unsigned volume_inflight(const struct volume *vol);

/* Where the sector math lives: the plain64 IV of the plaintext byte offset
 * `offset` (a multiple of the sector size). */
uint64_t volume_layout_iv(const struct volume_layout *layout, uint64_t offset);

#endif
