/* Memory for secrets: keys and passphrases.
 *
 * Pages are mlock'ed (never swapped) and marked MADV_DONTDUMP (never in a
 * core image), and wiped before they are returned. Allocations are rounded to
 * whole pages; use them for a handful of small secrets, not for bulk data.
 */
#ifndef CRYPTBLK_SECMEM_H
#define CRYPTBLK_SECMEM_H

#include <stddef.h>

/* Zeroed, locked memory, or NULL with errno set (ENOMEM, or EPERM/EAGAIN when
 * the memory cannot be locked). */
void *secmem_alloc(size_t len);
/* Wipes and frees; NULL is allowed. `len` is the length given to alloc. */
void secmem_free(void *p, size_t len);
/* Wipes memory the compiler may not elide. */
void secmem_wipe(void *p, size_t len);

#endif
