/* Shared by the backends in src/backend: not part of the public contract. */
#ifndef CRYPTBLK_BACKEND_PRIV_H
#define CRYPTBLK_BACKEND_PRIV_H

#include <cryptblk/backend.h>
#include <stddef.h>

#define backend_container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

static inline struct backend_io *backend_io_of_op(struct loop_op *op)
{
	return backend_container_of(op, struct backend_io, op_);
}

/* Complete `io` with `err` on a later turn of `loop` (through a NOP), so a
 * refused I/O never calls done() from inside backend_submit(). Uses the io's
 * backend-owned fields. */
void backend_io_fail_later(struct loop *loop, struct backend_io *io, int err);

#endif
