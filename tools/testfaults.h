/* Test-only knobs of the `cryptblk` command, read from the environment and
 * never listed in --help (docs/reliability.md describes them). They exist so
 * that tests can make storage fail and commands die at chosen points; an
 * unset variable changes nothing.
 *
 *   CRYPTBLK_TEST_FAULTS=RULE[,RULE...]   (serve) RULE is OP:OFFSET:LEN:KIND
 *       OP      read | write | flush | discard
 *       OFFSET, LEN  bytes of the image (not of the plaintext), K/M/G suffixes
 *       KIND    EIO | ENOSPC | EROFS | EPERM: every matching I/O fails so;
 *               short[:ERRNO] (read and write): the part before OFFSET is
 *               transferred, then the I/O fails (EIO for a read, ENOSPC for
 *               a write unless ERRNO says otherwise)
 *   CRYPTBLK_TEST_CRASH_AT=N[:BYTES]      (add-key, remove-key) the N-th
 *       metadata write (from 1) writes only its first BYTES bytes (0 by
 *       default), then the process kills itself with SIGKILL.
 */
#ifndef CRYPTBLK_TOOLS_TESTFAULTS_H
#define CRYPTBLK_TOOLS_TESTFAULTS_H

#include <cryptblk/backend.h>
#include <cryptblk/luks.h>

/* With CRYPTBLK_TEST_FAULTS set, replace *be by the fault decorator around
 * it, carrying those rules; one line on stderr says so. 0, or a negative
 * errno after printing a line (*be is the one to close either way). */
int testfaults_backend_wrap(struct backend **be);

/* With CRYPTBLK_TEST_CRASH_AT set, route io's writes through the crash
 * counter (one io per process). 0, or -EINVAL after printing a line. */
int testfaults_luks_io_wrap(struct luks_io *io);

#endif
