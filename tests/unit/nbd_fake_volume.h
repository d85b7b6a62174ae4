/* An in-memory model of the volume contract (include/cryptblk/volume.h) for
 * the NBD server's protocol tests, plus a harness that serves it over a
 * socketpair.
 *
 * It is a header with definitions, included by exactly one test file per
 * executable, because it defines the volume_* functions itself: a
 * helper_*.c would be linked into every unit test and collide with the real
 * pipeline in the volume's own tests. The model keeps the contract's
 * promises (done() on the loop's thread, never inside volume_submit), does
 * the memory operation when it completes the request, refuses unaligned or
 * out-of-range requests with -EINVAL (counted, so tests can assert the
 * server never sends one), and can hold completions back or complete them
 * in reverse order to exercise ordering. */
#ifndef CRYPTBLK_TEST_NBD_FAKE_VOLUME_H
#define CRYPTBLK_TEST_NBD_FAKE_VOLUME_H

#include <cryptblk/nbd.h>
#include <cryptblk/volume.h>

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define FAKE_MAX_VOLUMES 16

/* Not ck_assert: the model's callbacks run on the server's loop threads,
 * where Check cannot report; an abort fails a Check test all the same. */
#define FAKE_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: fake volume: %s failed\n", __FILE__, __LINE__,     \
				#cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

struct fake_store {
	pthread_mutex_t mutex;
	uint8_t *data;
	uint64_t size;
	uint32_t sector;
	bool read_only;
	bool reverse;		/* complete each batch in reverse order */
	atomic_bool hold;	/* keep completions back */
	atomic_uint misaligned; /* requests the contract forbids */
	atomic_uint inflight, max_inflight;
	atomic_uint flushes, fua_writes, zeroes, trims, punches;
	int fail_op; /* -1: none; else enum volume_op that fails */
	int fail_err;
	struct volume *vols[FAKE_MAX_VOLUMES]; /* to wake their loops */
};

struct volume {
	struct fake_store *store;
	struct loop *loop;
	struct volume_req **pending;
	unsigned nr_pending, cap_pending;
	unsigned inflight;
	int efd; /* like an engine's signal fd: wakes the loop on release */
	struct loop_watch *watch;
	unsigned slot;
};

static void fake_woken(void *ctx)
{
	(void)ctx; /* fake_progress runs after this batch */
}

/* Let held completions go, and wake every volume's loop to run them. */
static inline void fake_release(struct fake_store *st)
{
	uint64_t one = 1;

	atomic_store(&st->hold, false);
	pthread_mutex_lock(&st->mutex);
	for (unsigned i = 0; i < FAKE_MAX_VOLUMES; i++)
		if (st->vols[i])
			FAKE_CHECK((write(st->vols[i]->efd, &one, sizeof(one))) == 8);
	pthread_mutex_unlock(&st->mutex);
}

static void fake_run_one(struct volume *vol, struct volume_req *req)
{
	struct fake_store *st = vol->store;
	int res = 0;

	pthread_mutex_lock(&st->mutex);
	if (req->error) {
		res = req->error;
	} else if (st->fail_op == (int)req->op) {
		res = st->fail_err;
	} else {
		switch (req->op) {
		case VOLUME_READ:
			memcpy(req->buf, st->data + req->offset, req->len);
			break;
		case VOLUME_WRITE:
			memcpy(st->data + req->offset, req->buf, req->len);
			break;
		case VOLUME_ZERO:
			memset(st->data + req->offset, 0, req->len);
			atomic_fetch_add(&st->zeroes, 1);
			break;
		case VOLUME_TRIM:
			/* trim leaves data alone when discards are not allowed */
			atomic_fetch_add(&st->trims, 1);
			break;
		case VOLUME_FLUSH:
			atomic_fetch_add(&st->flushes, 1);
			break;
		}
	}
	pthread_mutex_unlock(&st->mutex);
	if ((req->flags & VOLUME_F_FUA) && req->op != VOLUME_FLUSH)
		atomic_fetch_add(&st->fua_writes, 1);
	if (req->flags & VOLUME_F_MAY_PUNCH)
		atomic_fetch_add(&st->punches, 1);
	vol->inflight--;
	atomic_fetch_sub(&st->inflight, 1);
	req->done(req, res);
}

static unsigned fake_progress(void *ctx)
{
	struct volume *vol = ctx;
	struct volume_req **batch;
	unsigned n = vol->nr_pending;

	if (!n || atomic_load(&vol->store->hold))
		return 0;
	batch = vol->pending;
	vol->pending = NULL;
	vol->nr_pending = vol->cap_pending = 0;
	for (unsigned i = 0; i < n; i++)
		fake_run_one(vol, batch[vol->store->reverse ? n - 1 - i : i]);
	free(batch);
	return n;
}

void volume_submit(struct volume *vol, struct volume_req *req)
{
	struct fake_store *st = vol->store;
	bool bad = false;

	if (req->op != VOLUME_FLUSH)
		bad = req->offset % st->sector || req->len % st->sector || !req->len ||
		      req->offset + req->len > st->size;
	/* req->error belongs to the pipeline while in flight: the model
	 * keeps the verdict there. */
	req->error = bad ? -EINVAL : 0;
	if (bad)
		atomic_fetch_add(&st->misaligned, 1);
	if (vol->nr_pending == vol->cap_pending) {
		vol->cap_pending = vol->cap_pending ? vol->cap_pending * 2 : 16;
		vol->pending = realloc(vol->pending, vol->cap_pending * sizeof(*vol->pending));
		FAKE_CHECK((vol->pending) != NULL);
	}
	req->vol = vol;
	vol->pending[vol->nr_pending++] = req;
	vol->inflight++;
	{
		unsigned now = atomic_fetch_add(&vol->store->inflight, 1) + 1;
		unsigned max = atomic_load(&vol->store->max_inflight);

		while (now > max &&
		       !atomic_compare_exchange_weak(&vol->store->max_inflight, &max, now))
			;
	}
}

uint64_t volume_size(const struct volume *vol)
{
	return vol->store->size;
}

uint32_t volume_sector_size(const struct volume *vol)
{
	return vol->store->sector;
}

bool volume_read_only(const struct volume *vol)
{
	return vol->store->read_only;
}

unsigned volume_inflight(const struct volume *vol)
{
	return vol->inflight;
}

static int fake_open(void *ctx, unsigned index, struct loop *loop, struct volume **out)
{
	struct volume *vol = calloc(1, sizeof(*vol));

	(void)index;
	if (!vol)
		return -ENOMEM;
	struct fake_store *st = ctx;

	vol->store = st;
	vol->loop = loop;
	vol->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	FAKE_CHECK((vol->efd) >= 0);
	FAKE_CHECK((loop_watch_eventfd(loop, vol->efd, fake_woken, vol, &vol->watch)) == 0);
	FAKE_CHECK((loop_progress_add(loop, fake_progress, vol)) == 0);
	pthread_mutex_lock(&st->mutex);
	for (vol->slot = 0; vol->slot < FAKE_MAX_VOLUMES && st->vols[vol->slot]; vol->slot++)
		;
	FAKE_CHECK((vol->slot) < FAKE_MAX_VOLUMES);
	st->vols[vol->slot] = vol;
	pthread_mutex_unlock(&st->mutex);
	*out = vol;
	return 0;
}

static void fake_close(void *ctx, unsigned index, struct volume *vol)
{
	struct fake_store *st = ctx;

	(void)index;
	FAKE_CHECK((vol->inflight) == 0);
	pthread_mutex_lock(&st->mutex);
	st->vols[vol->slot] = NULL;
	pthread_mutex_unlock(&st->mutex);
	loop_progress_remove(vol->loop, fake_progress, vol);
	/* The watch frees itself once its poll is cancelled; it no longer
	 * reads the fd after removal, so closing it now is safe. */
	loop_watch_remove(vol->watch);
	close(vol->efd);
	free(vol->pending);
	free(vol);
}

static const struct nbd_thread_ops fake_ops = {.open = fake_open, .close = fake_close};

/* Every public function of the real pipeline's volume.c is defined here, so
 * the linker never pulls that object in (shared test helpers that open real
 * volumes are linked into every test); a test using this model opens it
 * through fake_ops, never through these two. */
int volume_open(struct backend *be, struct crypto_engine *engine, struct loop *loop,
		const struct volume_layout *layout, struct volume **out)
{
	(void)be;
	(void)engine;
	(void)loop;
	(void)layout;
	(void)out;
	return -ENOTSUP;
}

void volume_close(struct volume *vol)
{
	fake_close(vol->store, 0, vol);
}

/* A fake store of `size` bytes filled with a pattern derived from the byte
 * offset, so any misplaced byte shows. */
static inline struct fake_store *fake_store_new(uint64_t size, uint32_t sector)
{
	struct fake_store *st = calloc(1, sizeof(*st));

	FAKE_CHECK((st) != NULL);
	pthread_mutex_init(&st->mutex, NULL);
	st->data = malloc(size);
	FAKE_CHECK((st->data) != NULL);
	for (uint64_t i = 0; i < size; i++)
		st->data[i] = (uint8_t)(i * 31 + (i >> 9));
	st->size = size;
	st->sector = sector;
	st->fail_op = -1;
	return st;
}

static inline void fake_store_free(struct fake_store *st)
{
	pthread_mutex_destroy(&st->mutex);
	free(st->data);
	free(st);
}

struct harness {
	struct fake_store *st;
	struct nbd_server *srv;
	struct nbd_server_config cfg;
	int fd; /* the client's end */
};

static inline void harness_start_cfg(struct harness *h, uint64_t size, uint32_t sector,
				     const struct nbd_server_config *cfg)
{
	int sv[2];

	memset(h, 0, sizeof(*h));
	h->st = fake_store_new(size, sector);
	h->cfg = *cfg;
	h->cfg.ops = &fake_ops;
	h->cfg.ctx = h->st;
	if (!h->cfg.threads)
		h->cfg.threads = 1;
	ck_assert_int_eq(nbd_server_create(&h->cfg, &h->srv), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	ck_assert_int_eq(nbd_server_add_fd(h->srv, sv[1]), 0);
	h->fd = sv[0];
}

static inline void harness_start(struct harness *h, uint64_t size, uint32_t sector)
{
	struct nbd_server_config cfg = {.export_name = "", .threads = 1};

	harness_start_cfg(h, size, sector, &cfg);
}

/* Another connection to the same server. */
static inline int harness_connect(struct harness *h)
{
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	ck_assert_int_eq(nbd_server_add_fd(h->srv, sv[1]), 0);
	return sv[0];
}

static inline void harness_stop(struct harness *h)
{
	if (h->fd >= 0)
		close(h->fd);
	ck_assert_int_eq(nbd_server_destroy(h->srv), 0);
	ck_assert_uint_eq(atomic_load(&h->st->misaligned), 0);
	fake_store_free(h->st);
}

#endif
