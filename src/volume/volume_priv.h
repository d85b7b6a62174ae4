/* Inside the volume pipeline: the volume, its chunks and the sector math.
 * Not part of the public contract. */
#ifndef CRYPTBLK_VOLUME_PRIV_H
#define CRYPTBLK_VOLUME_PRIV_H

#include <cryptblk/volume.h>

#include <stddef.h>

struct volume_bounce_free;

/* Chunks and data bytes in flight per volume. Each write or zero chunk
 * holds a bounce buffer as large as its data, so the byte bound caps the
 * pipeline's memory (32 MiB) however large the requests; requests beyond
 * either bound wait in order. One chunk is always allowed. */
#define VOLUME_CHUNKS_INFLIGHT_MAX 256u
#define VOLUME_BYTES_INFLIGHT_MAX  (32u * 1024 * 1024)

/* A hole punch carries no data and needs no crypto job: it is split only
 * because backend_io lengths are 32-bit. */
#define VOLUME_PUNCH_CHUNK_MAX (1u << 30)

/* Bounce buffers come in power-of-two classes from VOLUME_BOUNCE_MIN to
 * VOLUME_CHUNK_MAX; at most VOLUME_BOUNCE_CACHE_BYTES of free ones are kept
 * (a sequential write at QD 8 of 1 MiB has 8 MiB in flight). */
#define VOLUME_BOUNCE_MIN	  4096u
#define VOLUME_BOUNCE_CLASSES	  9u
#define VOLUME_BOUNCE_CACHE_BYTES (16u * 1024 * 1024)

/* req->cursor once the request has left the queue (every chunk issued). */
#define VOLUME_REQ_ISSUED UINT64_MAX

enum volume_chunk_kind {
	VOLUME_CHUNK_READ,	/* backend read, then decrypt in place */
	VOLUME_CHUNK_WRITE,	/* encrypt into the bounce buffer, then backend write */
	VOLUME_CHUNK_PUNCH,	/* backend discard */
	VOLUME_CHUNK_FLUSH,	/* backend flush for a FLUSH request */
	VOLUME_CHUNK_FUA_FLUSH, /* backend flush after the data of a FUA request */
};

struct volume_chunk {
	struct volume *vol;
	struct volume_req *req;
	uint8_t kind;	 /* enum volume_chunk_kind */
	uint64_t offset; /* plaintext offset of the chunk */
	uint32_t len;
	uint8_t *bounce; /* ciphertext of a write chunk; NULL otherwise */
	struct crypto_job job;
	struct backend_io io;
	struct volume_chunk *next_free;
};

struct volume {
	struct backend *be;
	struct crypto_engine *engine;
	struct loop *loop;
	struct volume_layout layout;
	uint8_t *zeros; /* VOLUME_CHUNK_MAX bytes of plaintext zeros, shared */
	unsigned reqs_inflight;
	unsigned chunks_inflight;
	uint64_t bytes_inflight; /* data of read, write and zero chunks */
	struct volume_req *queue_head, *queue_tail;
	struct volume_chunk *free_chunks;
	struct volume_bounce_free *bounce_free[VOLUME_BOUNCE_CLASSES]; /* bounce.c */
	size_t bounce_cached;					       /* bytes on the free lists */
};

/* sector.c: layout and request validation, chunk sizes. */
int volume_layout_check(const struct volume_layout *layout, const struct backend *be);
int volume_req_check(const struct volume_layout *layout, bool read_only,
		     const struct volume_req *req);
bool volume_req_punches(const struct volume *vol, const struct volume_req *req);
uint64_t volume_req_issue_len(const struct volume *vol, const struct volume_req *req);
uint32_t volume_chunk_len(const struct volume *vol, const struct volume_req *req);

/* chunk.c: one chunk's life, from issue to its finish. */
/* Whether the next chunk of `req` fits the in-flight bounds now. */
bool volume_chunk_fits(const struct volume *vol, const struct volume_req *req);
void volume_chunk_issue(struct volume *vol, struct volume_req *req);
void volume_chunk_issue_fua(struct volume *vol, struct volume_req *req);
void volume_chunks_free(struct volume *vol);

/* bounce.c: ciphertext buffers of write and zero chunks, reused. */
uint8_t *volume_bounce_get(struct volume *vol, uint32_t len);
void volume_bounce_put(struct volume *vol, uint8_t *buf, uint32_t len);
void volume_bounce_fini(struct volume *vol);

/* volume.c: a request whose chunks all finished. */
void volume_req_settle(struct volume_req *req);
void volume_req_complete(struct volume_req *req);

#endif
