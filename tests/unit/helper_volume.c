/* The volume rig shared by the volume tests. */
#include "helper_volume.h"
#include "helper_refusing_engine.h"

#include <check.h>
#include <string.h>
#include <unistd.h>

void helper_loop_wait(struct loop *loop, const bool *flag)
{
	while (!*flag)
		ck_assert_int_eq(loop_run_once(loop, true), 0);
}

static void helper_volume_open_top(struct helper_volume *h)
{
	struct backend *be;

	ck_assert_int_eq(backend_file_open(h->path, h->opts.backend_flags, &be), 0);
	if (h->opts.fault) {
		struct backend *faulty;

		ck_assert_int_eq(backend_fault_wrap(be, &faulty), 0);
		be = faulty;
	}
	h->be = be;
	ck_assert_int_eq(volume_open(h->be, h->engine, h->loop, &h->opts.layout, &h->vol), 0);
}

void helper_volume_open(struct helper_volume *h, const struct helper_volume_opts *opts)
{
	memset(h, 0, sizeof(*h));
	h->opts = *opts;
	for (unsigned i = 0; i < HELPER_VOLUME_KEY_LEN; i++)
		h->key[i] = (uint8_t)(i * 7 + 3);
	ck_assert_int_eq(helper_tmpfile_create(opts->file_size, opts->file_seed, h->path), 0);
	ck_assert_int_eq(loop_create(128, &h->loop), 0);
	ck_assert_int_eq(crypto_engine_open(opts->engine, &h->inner), 0);
	h->engine = h->inner;
	if (opts->refusing)
		ck_assert_int_eq(helper_refusing_engine_wrap(h->inner, &h->engine), 0);
	ck_assert_int_eq(
	    crypto_engine_set_key(h->engine, opts->layout.key_slot, h->key, sizeof(h->key)), 0);
	ck_assert_int_eq(crypto_engine_attach(h->engine, h->loop), 0);
	helper_volume_open_top(h);
}

static void helper_volume_drain(struct helper_volume *h)
{
	while (volume_inflight(h->vol) > 0)
		ck_assert_int_eq(loop_run_once(h->loop, true), 0);
	ck_assert_uint_eq(crypto_engine_pending(h->engine), 0);
}

void helper_volume_reopen(struct helper_volume *h)
{
	helper_volume_drain(h);
	volume_close(h->vol);
	backend_close(h->be);
	helper_volume_open_top(h);
}

void helper_volume_close(struct helper_volume *h)
{
	helper_volume_drain(h);
	volume_close(h->vol);
	backend_close(h->be);
	crypto_engine_close(h->engine);
	if (h->engine != h->inner)
		crypto_engine_close(h->inner);
	/* Detaching cancels the engine's eventfd watch through the loop. */
	while (loop_inflight(h->loop) > 0)
		ck_assert_int_eq(loop_run_once(h->loop, true), 0);
	loop_destroy(h->loop);
	unlink(h->path);
}

struct helper_wait {
	struct volume_req req;
	int res;
	unsigned calls;
	bool done;
};

static void helper_wait_done(struct volume_req *req, int res)
{
	struct helper_wait *w = req->priv;

	w->res = res;
	w->calls++;
	w->done = true;
}

int helper_volume_run(struct helper_volume *h, uint8_t op, uint32_t flags, uint64_t offset,
		      uint64_t len, void *buf)
{
	struct helper_wait w;

	memset(&w, 0, sizeof(w));
	w.req.op = op;
	w.req.flags = flags;
	w.req.offset = offset;
	w.req.len = len;
	w.req.buf = buf;
	w.req.done = helper_wait_done;
	w.req.priv = &w;
	volume_submit(h->vol, &w.req);
	ck_assert_msg(!w.done, "done() ran inside volume_submit()");
	helper_loop_wait(h->loop, &w.done);
	/* Let anything late show up as a second call. */
	while (volume_inflight(h->vol) > 0)
		ck_assert_int_eq(loop_run_once(h->loop, true), 0);
	ck_assert_uint_eq(w.calls, 1);
	return w.res;
}
