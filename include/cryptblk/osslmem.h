/* OpenSSL's own allocations of secret state, kept out of core images.
 *
 * OpenSSL allocates the expanded key of a cipher context (whose first round
 * keys are the key bytes themselves) and the password of a KDF context on its
 * own heap. osslmem_init() installs allocation hooks into OpenSSL that put
 * every allocation made inside a secret scope of the calling thread
 * (osslmem_secret_begin/end around the call that hands OpenSSL a key or a
 * passphrase) into OpenSSL's secure heap: one mapping, mlock'ed and
 * MADV_DONTDUMP, wiped on free. Everything else still goes to malloc.
 *
 * A process that never calls osslmem_init() (unit tests, fuzzers) keeps
 * OpenSSL's default allocator; the scopes then do nothing.
 */
#ifndef CRYPTBLK_OSSLMEM_H
#define CRYPTBLK_OSSLMEM_H

#include <stdbool.h>
#include <stddef.h>

/* Default size of the secure heap: a keyed slot of an engine thread (an
 * encrypt and a decrypt context with their key schedules) takes 2.5 KiB,
 * so this holds the keys of several hundred threads. */
#define OSSLMEM_HEAP_DEFAULT (2u << 20)

/* Install the hooks and create a secure heap of `heap_size` bytes (a power
 * of two of at least 64 KiB; 0: no secure heap, the hooks are not
 * installed). Must run before OpenSSL allocates anything: first thing in
 * main(), before any thread exists. It then uses the ciphers, digests and
 * PBKDF2 of the format and crypto code once, outside any scope, so that
 * OpenSSL's lasting algorithm tables are not built in the secure heap.
 * Returns 0, -EBUSY when OpenSSL has already allocated (its allocator can
 * no longer be changed), -EALREADY when called before, -EINVAL for a bad
 * size, -ENOMEM when the heap cannot be mapped. *locked tells whether
 * the heap is mlock'ed (RLIMIT_MEMLOCK may forbid it; it is still kept out
 * of core images). On failure OpenSSL keeps allocating as before. */
int osslmem_init(size_t heap_size, bool *locked);

/* Does the secure heap take this thread's secret allocations? */
bool osslmem_active(void);

/* Secret scopes nest; each begin needs its end on the same thread. */
void osslmem_secret_begin(void);
void osslmem_secret_end(void);

/* Secret allocations that found the secure heap full and went to the
 * ordinary heap instead (never fails an allocation for want of room). */
unsigned long osslmem_spills(void);

#endif
