/* The FIFO range queue behind the NBD server's and the nbdkit filter's
 * range locks (include/cryptblk/rangeq.h). */
#include <cryptblk/rangeq.h>

#include <stddef.h>

void rangeq_init(struct rangeq *q)
{
	q->held = NULL;
	q->wait_head = q->wait_tail = NULL;
}

static bool rangeq_overlaps(const struct rangeq_entry *a, const struct rangeq_entry *b)
{
	return a->start < b->end && b->start < a->end;
}

/* Does e overlap an entry of list before stop? */
static bool rangeq_overlaps_list(const struct rangeq_entry *e, const struct rangeq_entry *list,
				 const struct rangeq_entry *stop)
{
	for (const struct rangeq_entry *x = list; x && x != stop; x = x->next)
		if (rangeq_overlaps(e, x))
			return true;
	return false;
}

bool rangeq_enter(struct rangeq *q, struct rangeq_entry *e)
{
	bool held =
	    !rangeq_overlaps_list(e, q->held, NULL) && !rangeq_overlaps_list(e, q->wait_head, NULL);

	e->next = NULL;
	if (held) {
		e->next = q->held;
		q->held = e;
	} else {
		if (q->wait_tail)
			q->wait_tail->next = e;
		else
			q->wait_head = e;
		q->wait_tail = e;
	}
	return held;
}

void rangeq_leave(struct rangeq *q, struct rangeq_entry *e,
		  void (*grant)(struct rangeq_entry *e, void *ctx), void *ctx)
{
	struct rangeq_entry **pp, *prev = NULL;

	for (pp = &q->held; *pp; pp = &(*pp)->next) {
		if (*pp == e) {
			*pp = e->next;
			break;
		}
	}
	e->next = NULL;
	pp = &q->wait_head;
	while (*pp) {
		struct rangeq_entry *w = *pp;

		if (rangeq_overlaps_list(w, q->held, NULL) ||
		    rangeq_overlaps_list(w, q->wait_head, w)) {
			prev = w;
			pp = &w->next;
			continue;
		}
		*pp = w->next;
		if (q->wait_tail == w)
			q->wait_tail = prev;
		w->next = q->held;
		q->held = w;
		grant(w, ctx);
	}
}
