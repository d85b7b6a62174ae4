/* The "delay:D[,SPEC]" engine: BENCHMARK ONLY. It wraps another engine
 * (SPEC, default "openssl") and holds every job for a time D ("100us",
 * "2ms", "500ns") before handing it to that engine, as a crypto device with
 * a fixed latency would. It exists to measure whether the pipeline keeps
 * enough jobs in flight to hide an engine's latency (bench/compare); it adds
 * nothing to security or speed and no volume should be served with it.
 *
 * Nothing blocks and nothing spins. submit() stamps the job with its due
 * time and queues it in a ring (the delay is fixed, so due times rise in
 * submission order); a timerfd set to fire between the head's due time and
 * half of D later wakes the loop; complete() hands every job that is
 * due to the inner engine, collects what the inner engine finished, and
 * sets the timer for the next head unless it already fires in time. So a
 * job is held at least D and at most 1.5 D, and one timer expiry releases
 * every job due in that window.
 *
 * The signal fd. With an inner engine that finishes inside submit (openssl)
 * it is the timerfd itself, which the loop drains. With one that has its
 * own signal fd (threads) it is an epoll fd watching both. The loop's
 * 8-byte read of the epoll fd fails harmlessly and nothing drains the two
 * members: it need not, because every timer expiry and every eventfd write
 * wakes the epoll fd's pollers whether or not the member was already
 * readable, and the poll stays armed (a member left readable only makes a
 * re-armed poll fire once at once). Draining would cost a read per
 * complete(), which runs after every CQE batch.
 */
#include "crypto/engines.h"
#include "crypto/xts.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define DELAY_RING   1024 /* jobs held at once; more is -EBUSY */
#define DELAY_MAX_NS 1000000000ull
#define DELAY_INNER  "openssl"
/* Timer coalescing: a job is held between D and D + D / DELAY_SLACK_DIV.
 * Setting the timer once per job cost 16% of the loop's CPU in a VM (every
 * timerfd_settime reprograms the timer hardware); with a window of D/4 the
 * random-read check still lost a third of its IOPS, with D/2 under a fifth.
 * Holding a job longer only makes the latency-hiding check harder. */
#define DELAY_SLACK_DIV 2

_Static_assert((DELAY_RING & (DELAY_RING - 1)) == 0, "ring size is a power of two");

struct delay_slot {
	struct crypto_job *job;
	uint64_t due_ns; /* CLOCK_MONOTONIC */
};

struct delay_engine {
	struct crypto_engine base; /* first: engine.c casts */
	struct crypto_engine *inner;
	uint64_t delay_ns;
	int timer_fd;
	int epoll_fd; /* -1 unless the inner engine has a signal fd */
	int inner_fd;
	uint64_t slack_ns; /* a job is held at most delay_ns + slack_ns */
	uint64_t armed_ns; /* expiry the timer was last set for */
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

static uint64_t delay_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
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
	if (de->epoll_fd >= 0)
		close(de->epoll_fd);
	if (de->timer_fd >= 0)
		close(de->timer_fd);
	free(de);
}

static int delay_epoll_add(int epoll_fd, int fd)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};

	return epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

/* The timerfd, and an epoll fd over it and the inner engine's signal fd
 * when there is one (see the file comment). */
static int delay_fds_open(struct delay_engine *de)
{
	const struct crypto_engine_ops *iops = de->inner->ops;
	int err = 0;

	de->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (de->timer_fd < 0)
		return -errno;
	de->inner_fd = iops->signal_fd ? iops->signal_fd(de->inner) : -1;
	if (de->inner_fd < 0)
		return 0;
	de->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (de->epoll_fd < 0)
		return -errno;
	err = delay_epoll_add(de->epoll_fd, de->timer_fd);
	if (!err)
		err = delay_epoll_add(de->epoll_fd, de->inner_fd);
	return err;
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
	de->slack_ns = ns / DELAY_SLACK_DIV;
	de->timer_fd = de->epoll_fd = de->inner_fd = -1;
	err = crypto_engine_open(comma ? comma + 1 : DELAY_INNER, &de->inner);
	if (!err)
		err = delay_fds_open(de);
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

/* Makes sure the timer fires in [due_ns, due_ns + slack]: a pending expiry
 * in that window is kept, otherwise the timer is set for its end, so that
 * one expiry releases every job that falls due meanwhile. A time in the
 * past fires at once. */
static void delay_timer_cover(struct delay_engine *de, uint64_t due_ns, uint64_t now_ns)
{
	uint64_t at = due_ns + de->slack_ns;
	struct itimerspec its = {
	    .it_value = {.tv_sec = (time_t)(at / 1000000000ull),
			 .tv_nsec = (long)(at % 1000000000ull)},
	};

	if (de->armed_ns > now_ns && de->armed_ns >= due_ns && de->armed_ns <= at)
		return;
	/* Cannot fail with a valid fd and value; if it did, the next
	 * complete() (any CQE) would still release the job. */
	if (timerfd_settime(de->timer_fd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
		de->armed_ns = at;
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
	now = delay_now_ns();
	slot = &de->ring[de->tail % DELAY_RING];
	slot->job = job;
	slot->due_ns = now + de->delay_ns;
	/* Due times rise with the ring: only a job at the head needs the
	 * timer now; later ones get it when they reach the head. */
	if (de->tail == de->head)
		delay_timer_cover(de, slot->due_ns, now);
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
	uint64_t now = delay_now_ns();

	delay_release(de, now);
	if (de->head != de->tail) {
		uint64_t due = de->ring[de->head % DELAY_RING].due_ns;

		/* A due head waits for room in the inner engine, whose signal
		 * brings us back, not for time. */
		if (due > now)
			delay_timer_cover(de, due, now);
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
	struct delay_engine *de = delay_of(engine);

	return de->epoll_fd >= 0 ? de->epoll_fd : de->timer_fd;
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
