/* The CPU backend's thread pool (backends/cpu/cpu_threadpool.c, compiled
 * into this test): every task of every loop runs exactly once, on a valid
 * thread, whether the helpers are spinning, asleep, or slower than the
 * caller, and loops issued back to back never mix. */
#include <check.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cpu_internal.h"

#define MAX_TASKS 4096

typedef struct count_job {
    atomic_int runs[MAX_TASKS];
    atomic_int bad_thread;
    atomic_int helper_chunks; /* chunks run by helpers */
    int threads;
    long caller_delay_ns, helper_delay_ns; /* each chunk sleeps this long first */
} count_job;

static void sleep_ns(long ns)
{
    struct timespec t = {ns / 1000000000L, ns % 1000000000L};
    nanosleep(&t, NULL);
}

static void count_tasks(void *arg, size_t begin, size_t end, int thread)
{
    count_job *j = arg;
    if (thread < 0 || thread >= j->threads)
        atomic_fetch_add(&j->bad_thread, 1);
    long delay = thread == 0 ? j->caller_delay_ns : j->helper_delay_ns;
    if (delay)
        sleep_ns(delay);
    if (thread != 0)
        atomic_fetch_add(&j->helper_chunks, 1);
    for (size_t i = begin; i < end; i++)
        atomic_fetch_add(&j->runs[i], 1);
}

/* Runs `loops` loops of ntasks tasks and checks each task ran once per
 * loop (and nothing beyond ntasks ran); returns the chunks helpers ran. */
static int check_loops(cpu_threadpool *pool, int threads, size_t ntasks, int loops, long pause_ns,
                       long caller_delay_ns, long helper_delay_ns)
{
    count_job *j = calloc(1, sizeof *j);
    ck_assert_ptr_nonnull(j);
    j->threads = threads;
    j->caller_delay_ns = caller_delay_ns;
    j->helper_delay_ns = helper_delay_ns;
    for (int l = 0; l < loops; l++) {
        cpu_threadpool_run(pool, ntasks, count_tasks, j);
        /* one assertion per loop: each of Check's costs a system call */
        size_t wrong = MAX_TASKS;
        for (size_t i = 0; i < MAX_TASKS && wrong == MAX_TASKS; i++)
            if (atomic_load(&j->runs[i]) != (i < ntasks ? l + 1 : 0))
                wrong = i;
        ck_assert_msg(wrong == MAX_TASKS, "%d threads, %zu tasks, loop %d: task %zu ran %d times (want %d)",
                      threads, ntasks, l, wrong, wrong < MAX_TASKS ? atomic_load(&j->runs[wrong]) : 0,
                      wrong < ntasks ? l + 1 : 0);
        if (pause_ns)
            sleep_ns(pause_ns);
    }
    ck_assert_int_eq(atomic_load(&j->bad_thread), 0);
    int helper_chunks = atomic_load(&j->helper_chunks);
    free(j);
    return helper_chunks;
}

START_TEST(test_pool_back_to_back)
{
    /* spinning helpers: loops follow each other with no pause (3 threads
     * on a 2-core machine: a descheduled helper holds its chunk for a
     * time slice, so fewer loops there) */
    static const size_t sizes[] = {1, 2, 3, 5, 64, 1000, MAX_TASKS};
    for (int threads = 1; threads <= 3; threads++) {
        cpu_threadpool *pool = cpu_threadpool_create(threads);
        ck_assert_ptr_nonnull(pool);
        ck_assert_int_eq(cpu_threadpool_size(pool), threads);
        for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
            check_loops(pool, threads, sizes[s], threads <= 2 ? 300 : 30, 0, 0, 0);
        cpu_threadpool_destroy(pool);
    }
}
END_TEST

START_TEST(test_pool_sleeping_helpers)
{
    /* a pause longer than the helpers' spin (100 us): each loop wakes
     * sleeping helpers, and some loops race a helper going to sleep.  The
     * caller's chunk takes 2 ms, long enough for a woken helper to claim
     * another chunk: helpers that were never woken would leave every
     * chunk to the caller, which the counts alone would not show. */
    cpu_threadpool *pool = cpu_threadpool_create(3);
    ck_assert_ptr_nonnull(pool);
    static const long pauses[] = {150000, 90000, 100000, 110000, 0};
    for (int p = 0; p < 5; p++)
        check_loops(pool, 3, 9, 20, pauses[p], 0, 0);
    int helped = check_loops(pool, 3, 9, 10, 150000, 2000000, 0);
    ck_assert_msg(helped > 0, "no sleeping helper woke up to take a chunk in 10 loops");
    cpu_threadpool_destroy(pool);
}
END_TEST

START_TEST(test_pool_slow_helpers)
{
    /* helpers slower than the caller: the caller must wait for a chunk a
     * helper has claimed (asleep on done_cv once its spin runs out), and
     * may take over chunks no helper has claimed yet */
    cpu_threadpool *pool = cpu_threadpool_create(2);
    ck_assert_ptr_nonnull(pool);
    check_loops(pool, 2, 2, 20, 0, 0, 300000);
    check_loops(pool, 2, 7, 20, 0, 0, 20000);
    cpu_threadpool_destroy(pool);
}
END_TEST

START_TEST(test_pool_chunk_index)
{
    /* chunk_index names the static chunk a task range starts: the same
     * whichever thread runs it */
    cpu_threadpool *pool = cpu_threadpool_create(3);
    ck_assert_ptr_nonnull(pool);
    ck_assert_uint_eq(cpu_threadpool_chunk_index(pool, 9, 0), 0);
    ck_assert_uint_eq(cpu_threadpool_chunk_index(pool, 9, 3), 1);
    ck_assert_uint_eq(cpu_threadpool_chunk_index(pool, 9, 6), 2);
    ck_assert_uint_eq(cpu_threadpool_chunk_index(pool, 2, 1), 1);
    ck_assert_uint_eq(cpu_threadpool_chunk_index(NULL, 9, 6), 0);
    cpu_threadpool_destroy(pool);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cpu_threadpool");
    TCase *tc = tcase_create("pool");
    tcase_add_test(tc, test_pool_back_to_back);
    tcase_add_test(tc, test_pool_sleeping_helpers);
    tcase_add_test(tc, test_pool_slow_helpers);
    tcase_add_test(tc, test_pool_chunk_index);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
