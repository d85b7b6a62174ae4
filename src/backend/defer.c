/* Deferred failure of a backend I/O: done() runs from the loop, never from
 * inside backend_submit(), so callers need not guard against re-entry. */
#include "backend_priv.h"

#include <stdint.h>

static void backend_io_failed(struct loop_op *op, int res, uint32_t cqe_flags)
{
	struct backend_io *io = backend_io_of_op(op);
	int err = (int)(intptr_t)io->backend_priv;

	(void)res;
	(void)cqe_flags;
	io->done(io, err);
}

void backend_io_fail_later(struct loop *loop, struct backend_io *io, int err)
{
	io->loop = loop;
	io->done_bytes = 0;
	/* While the NOP is in flight the io belongs to us: its private pointer
	 * carries the errno to deliver. */
	io->backend_priv = (void *)(intptr_t)err;
	loop_prep_nop(&io->op_);
	io->op_.done = backend_io_failed;
	loop_submit(loop, &io->op_);
}
