/* Running a Check suite: one test case holding every test of a file. */
#ifndef CRYPTBLK_TESTS_HELPER_CHECK_H
#define CRYPTBLK_TESTS_HELPER_CHECK_H

#include <check.h>

/* Builds suite `name`, lets `add` register the tests, runs them and returns
 * the process exit status (0 when every test passed). */
int unit_run(const char *name, void (*add)(TCase *tc));

#endif
