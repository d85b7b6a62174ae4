/* The "delay:D[,SPEC]" engine: BENCHMARK ONLY. It wraps another engine
 * (SPEC, default "openssl") and holds every job for a time D ("100us",
 * "2ms", "500ns") before handing it to that engine, as a crypto device with
 * a fixed latency would. It exists to measure whether the pipeline keeps
 * enough jobs in flight to hide an engine's latency (bench/compare); it adds
 * nothing to security or speed and no volume should be served with it.
 *
 * Nothing blocks and nothing spins. submit() stamps the job with its due
 * time and queues it in a ring (the delay is fixed, so due times rise in
 * submission order); complete(), which the loop runs after every CQE batch
 * and before it sleeps, hands every job that is due to the inner engine,
 * collects what the inner engine finished, and asks the loop to wake by the
 * next head's due time (loop_wake_by). So a job is held D, plus however
 * long the loop takes to come round (the first turn after its due time).
 *
 * No timer fd: an earlier version armed a timerfd for every window of D/2
 * and held jobs up to 1.5 D. On this VM each timerfd_settime and each
 * expiry reprograms the timer hardware (a VM exit), and the loop paid a
 * poll and a read per expiry: 15 µs of loop CPU per request instead of 10
 * at QD 32, a third of the IOPS. The loop's own sleep timeout costs nothing
 * while the loop is busy, which is when jobs are held.
 *
 * The signal fd is the inner engine's (threads has one, openssl none).
 * Without a loop (not attached) the caller must call complete() itself.
 */
#include "crypto/engines.h"
#include "crypto/xts.h"

#include <cryptblk/clock.h>
#include <cryptblk/loop.h>

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DELAY_RING   1024 /* jobs held at once; more is -EBUSY */
#define DELAY_MAX_NS 1000000000ull
#define DELAY_INNER  "openssl"

_Static_assert((DELAY_RING & (DELAY_RING - 1)) == 0, "ring size is a power of two");

struct delay_slot {
	struct crypto_job *job;
	uint64_t due_ns; /* CLOCK_MONOTONIC */
};

struct delay_engine {
	struct crypto_engine base; /* first: engine.c casts */
	struct crypto_engine *inner;
	uint64_t delay_ns;
	bool keyed[CRYPTO_KEY_SLOTS];
	/* jobs the inner engine refused for good when they came due */
	struct crypto_job *failed_head, *failed_tail;
	uint32_t head, tail; /* ring indexes, free running */
	struct delay_slot ring[DELAY_RING];
};

static struct delay_engine *delay_of(struct crypto_engine *engine)
{
	return (struct delay_engine *)engine;
}

/* "100us", "2ms", "500ns", "1s": a whole number and a unit, up to 1 s. */
static int delay_parse_time(const char *s, size_t len, uint64_t *out)
{
	static const struct {
		const char *unit;
		uint64_t ns;
	} units[] = {{"ns", 1}, {"us", 1000}, {"ms", 1000000}, {"s", 1000000000}};
	uint64_t n = 0;
	size_t i = 0;

	while (i < len && s[i] >= '0' && s[i] <= '9') {
		n = n * 10 + (uint64_t)(s[i] - '0');
		if (n > DELAY_MAX_NS)
			return -EINVAL;
		i++;
	}
	if (i == 0)
		return -EINVAL;
	for (size_t u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
		if (len - i == strlen(units[u].unit) && !strncmp(s + i, units[u].unit, len - i)) {
			if (n * units[u].ns > DELAY_MAX_NS)
				return -EINVAL;
			*out = n * units[u].ns;
			return 0;
		}
	}
	return -EINVAL;
}

static void delay_destroy(struct crypto_engine *engine)
{
	struct delay_engine *de = delay_of(engine);

	crypto_engine_close(de->inner); /* wipes its keys */
	free(de);
}

static int delay_create(const char *args, struct crypto_engine **out)
{
	struct delay_engine *de = NULL;
	const char *comma;
	uint64_t ns = 0;
	int err = -EINVAL;

	if (!args)
		goto out;
	comma = strchr(args, ',');
	err = delay_parse_time(args, comma ? (size_t)(comma - args) : strlen(args), &ns);
	if (err)
		goto out;
	de = calloc(1, sizeof(*de));
	if (!de) {
		err = -ENOMEM;
		goto out;
	}
	de->delay_ns = ns;
	err = crypto_engine_open(comma ? comma + 1 : DELAY_INNER, &de->inner);
out:
	if (err && de)
		delay_destroy(&de->base);
	else if (!err)
		*out = &de->base;
	return err;
}

static int delay_set_key(struct crypto_engine *engine, unsigned slot, const uint8_t *key,
			 size_t key_len)
{
	struct delay_engine *de = delay_of(engine);
	int err;

	if (slot >= CRYPTO_KEY_SLOTS)
		return -EINVAL;
	err = crypto_engine_set_key(de->inner, slot, key, key_len);
	de->keyed[slot] = !err;
	return err;
}

static void delay_clear_key(struct crypto_engine *engine, unsigned slot)
{
	struct delay_engine *de = delay_of(engine);

	if (slot >= CRYPTO_KEY_SLOTS)
		return;
	de->keyed[slot] = false;
	crypto_engine_clear_key(de->inner, slot);
}

static int delay_submit(struct crypto_engine *engine, struct crypto_job *job)
{
	struct delay_engine *de = delay_of(engine);
	int err = crypto_job_check(job);
	struct delay_slot *slot;
	uint64_t now;

	if (err)
		return err;
	if (!de->keyed[job->key_slot])
		return -ENOKEY;
	if (de->tail - de->head == DELAY_RING)
		return -EBUSY;
	now = clock_now_ns();
	slot = &de->ring[de->tail % DELAY_RING];
	slot->job = job;
	slot->due_ns = now + de->delay_ns;
	de->tail++;
	return 0;
}

static void delay_fail(struct delay_engine *de, struct crypto_job *job, int err)
{
	job->result = err;
	job->next = NULL;
	if (de->failed_tail)
		de->failed_tail->next = job;
	else
		de->failed_head = job;
	de->failed_tail = job;
}

/* Hands every job due at `now` to the inner engine, in order, until it is
 * full. */
static void delay_release(struct delay_engine *de, uint64_t now)
{
	while (de->head != de->tail) {
		struct delay_slot *slot = &de->ring[de->head % DELAY_RING];
		int err;

		if (slot->due_ns > now)
			break;
		err = de->inner->ops->submit(de->inner, slot->job);
		if (err == -EBUSY)
			break; /* the inner engine's signal brings us back */
		if (err)
			delay_fail(de, slot->job, err);
		de->head++;
	}
}

static struct crypto_job *delay_complete(struct crypto_engine *engine)
{
	struct delay_engine *de = delay_of(engine);
	struct crypto_job *list, **tailp;
	uint64_t now = clock_now_ns();

	delay_release(de, now);
	if (de->head != de->tail) {
		uint64_t due = de->ring[de->head % DELAY_RING].due_ns;

		/* A due head waits for room in the inner engine, whose signal
		 * brings us back, not for time. */
		if (due > now && de->base.loop)
			loop_wake_by(de->base.loop, due);
	}
	list = de->inner->ops->complete(de->inner);
	tailp = &list;
	while (*tailp)
		tailp = &(*tailp)->next;
	*tailp = de->failed_head;
	de->failed_head = de->failed_tail = NULL;
	return list;
}

static int delay_signal_fd(struct crypto_engine *engine)
{
	struct crypto_engine *inner = delay_of(engine)->inner;

	return inner->ops->signal_fd ? inner->ops->signal_fd(inner) : -1;
}

static void *delay_buf_alloc(struct crypto_engine *engine, size_t len)
{
	return crypto_buf_alloc(delay_of(engine)->inner, len);
}

static void delay_buf_free(struct crypto_engine *engine, void *buf, size_t len)
{
	crypto_buf_free(delay_of(engine)->inner, buf, len);
}

const struct crypto_engine_ops crypto_delay_ops = {
    .name = "delay",
    .create = delay_create,
    .destroy = delay_destroy,
    .set_key = delay_set_key,
    .clear_key = delay_clear_key,
    .submit = delay_submit,
    .complete = delay_complete,
    .signal_fd = delay_signal_fd,
    .buf_alloc = delay_buf_alloc,
    .buf_free = delay_buf_free,
};
