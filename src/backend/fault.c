/* The fault decorator, for tests: I/Os that match a rule complete with the
 * rule's errno (on a later loop turn) and never reach the inner backend; all
 * others pass through untouched. A FLUSH has no range, so a FLUSH rule fails
 * every flush whatever its range.
 *
 * A short rule models a device that stops part-way: the part of a READ or
 * WRITE before the rule's offset is transferred (through the decorator
 * again, so other rules still apply to it), then the io fails with the
 * rule's errno. A write that fails this way has changed the storage. */
#include "backend_priv.h"

#include <errno.h>
#include <stdlib.h>

struct fault_rule {
	enum backend_op op;
	uint64_t offset, len;
	int err;
	bool short_io; /* transfer the part before `offset`, then fail */
	struct fault_rule *next;
};

/* The leading part of an io cut short by a rule, in flight on its own. */
struct fault_prefix {
	struct backend_io io;
	struct backend_io *outer;
	int err;
};

struct fault_backend {
	struct backend be;
	struct backend *inner;
	struct fault_rule *rules;
};

static const struct backend_ops fault_ops;

static struct fault_backend *fault_backend_of(struct backend *be)
{
	return backend_container_of(be, struct fault_backend, be);
}

static bool fault_rule_matches(const struct fault_rule *rule, const struct backend_io *io)
{
	uint64_t io_end;

	if (rule->op != io->op)
		return false;
	if (io->op == BACKEND_FLUSH)
		return true;
	io_end = io->offset + io->len;
	if (io_end < io->offset)
		io_end = UINT64_MAX; /* past any end: the inner backend refuses it */
	/* Half-open ranges [offset, offset + len) overlap. */
	return io->offset < rule->offset + rule->len && rule->offset < io_end;
}

/* Runs on the loop: the outer io fails with the prefix's own error, or
 * with the rule's once the prefix went through. */
static void fault_prefix_done(struct backend_io *io, int res)
{
	struct fault_prefix *p = backend_container_of(io, struct fault_prefix, io);
	struct backend_io *outer = p->outer;
	int err = res < 0 ? res : p->err;

	free(p);
	outer->done(outer, err);
}

static void fault_short_submit(struct backend *be, struct loop *loop, struct backend_io *io,
			       const struct fault_rule *rule)
{
	struct fault_prefix *p;

	/* Short rules exist for reads and writes only (backend_fault_add_short). */
	if (io->offset >= rule->offset) {
		/* Nothing lies before the fault: the device transfers nothing. */
		backend_io_fail_later(loop, io, rule->err);
		return;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		backend_io_fail_later(loop, io, -ENOMEM);
		return;
	}
	p->outer = io;
	p->err = rule->err;
	p->io.op = io->op;
	p->io.buf = io->buf;
	p->io.len = (uint32_t)(rule->offset - io->offset);
	p->io.offset = io->offset;
	p->io.done = fault_prefix_done;
	/* The prefix ends where this rule begins, so it cannot match it again. */
	backend_submit(be, loop, &p->io);
}

static void fault_submit(struct backend *be, struct loop *loop, struct backend_io *io)
{
	struct fault_backend *fb = fault_backend_of(be);

	for (const struct fault_rule *rule = fb->rules; rule; rule = rule->next) {
		if (!fault_rule_matches(rule, io))
			continue;
		if (rule->short_io)
			fault_short_submit(be, loop, io, rule);
		else
			backend_io_fail_later(loop, io, rule->err);
		return;
	}
	backend_submit(fb->inner, loop, io);
}

void backend_fault_clear(struct backend *faulty)
{
	struct fault_backend *fb;

	if (!faulty || faulty->ops != &fault_ops)
		return;
	fb = fault_backend_of(faulty);
	while (fb->rules) {
		struct fault_rule *rule = fb->rules;

		fb->rules = rule->next;
		free(rule);
	}
}

static void fault_close(struct backend *be)
{
	struct fault_backend *fb = fault_backend_of(be);

	backend_fault_clear(be);
	backend_close(fb->inner);
	free(fb);
}

static const struct backend_ops fault_ops = {
    .name = "fault",
    .submit = fault_submit,
    .close = fault_close,
};

int backend_fault_wrap(struct backend *inner, struct backend **out)
{
	struct fault_backend *fb;

	*out = NULL;
	if (!inner)
		return -EINVAL;
	fb = calloc(1, sizeof(*fb));
	if (!fb)
		return -ENOMEM;
	fb->be.ops = &fault_ops;
	fb->be.size = inner->size;
	fb->be.read_only = inner->read_only;
	fb->be.can_discard = inner->can_discard;
	fb->be.block_size = inner->block_size;
	fb->inner = inner;
	*out = &fb->be;
	return 0;
}

static int fault_rule_add(struct backend *faulty, enum backend_op op, uint64_t offset, uint64_t len,
			  int err, bool short_io)
{
	struct fault_backend *fb;
	struct fault_rule *rule;

	if (!faulty || faulty->ops != &fault_ops || op > BACKEND_DISCARD || err >= 0)
		return -EINVAL;
	if (op != BACKEND_FLUSH && (len == 0 || offset + len < offset))
		return -EINVAL;
	fb = fault_backend_of(faulty);
	rule = calloc(1, sizeof(*rule));
	if (!rule)
		return -ENOMEM;
	rule->op = op;
	rule->offset = offset;
	rule->len = len;
	rule->err = err;
	rule->short_io = short_io;
	rule->next = fb->rules;
	fb->rules = rule;
	return 0;
}

int backend_fault_add(struct backend *faulty, enum backend_op op, uint64_t offset, uint64_t len,
		      int err)
{
	return fault_rule_add(faulty, op, offset, len, err, false);
}

int backend_fault_add_short(struct backend *faulty, enum backend_op op, uint64_t offset,
			    uint64_t len, int err)
{
	if (op != BACKEND_READ && op != BACKEND_WRITE)
		return -EINVAL;
	return fault_rule_add(faulty, op, offset, len, err, true);
}
