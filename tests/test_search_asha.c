/* ASHA on synthetic learning curves: promotions and stops follow the rule
 * exactly; Hyperband brackets; the synchronous successive-halving plan. */
#include <check.h>
#include <stdlib.h>

#include "mlopt/search.h"

START_TEST(test_asha_rungs)
{
    mlopt_asha_config cfg = { 3, 1, 27, 2, 0 };
    mlopt_asha *a;
    ck_assert_int_eq(mlopt_asha_create(&cfg, &a), MLOPT_OK);
    /* bracket 0: rungs 1, 3, 9 (27 = r_max completes); bracket 1: 3, 9 */
    int r0[] = { 1, 3, 9 }, not0[] = { 2, 4, 27 };
    for (int i = 0; i < 3; i++) {
        ck_assert(mlopt_asha_is_rung(a, 0, r0[i]));
        ck_assert(!mlopt_asha_is_rung(a, 0, not0[i]));
    }
    ck_assert(!mlopt_asha_is_rung(a, 1, 1));
    ck_assert(mlopt_asha_is_rung(a, 1, 3) && mlopt_asha_is_rung(a, 1, 9));
    ck_assert_int_eq(mlopt_asha_bracket(a, 4), 0);
    ck_assert_int_eq(mlopt_asha_bracket(a, 5), 1);
    mlopt_asha_destroy(a);
    mlopt_asha_config bad = { 1, 1, 9, 1, 0 };
    ck_assert_int_ne(mlopt_asha_create(&bad, &a), MLOPT_OK);
}
END_TEST

/* Trials arrive one after another; trial t's curve is acc(t, epoch) =
 * q[t] * epoch / (epoch + 1).  At each rung the trial continues iff its
 * rank among the values recorded there so far is <= max(1, n / eta). */
START_TEST(test_asha_rule_on_curves)
{
    static const double q[] = { 0.5, 0.9, 0.3, 0.95, 0.2, 0.6, 0.85, 0.1, 0.99 };
    const int n = 9;
    mlopt_asha_config cfg = { 3, 1, 9, 1, 0 };
    mlopt_asha *a;
    ck_assert_int_eq(mlopt_asha_create(&cfg, &a), MLOPT_OK);
    int stopped_at[9];
    for (int t = 0; t < n; t++) {
        stopped_at[t] = 9;
        for (int e = 1; e <= 9; e++) {
            int keep;
            ck_assert_int_eq(mlopt_asha_report(a, 0, e, q[t] * e / (e + 1.0), &keep), MLOPT_OK);
            if (!keep) {
                stopped_at[t] = e;
                break;
            }
        }
    }
    /* Worked by hand.  Rung 1 (values q*1/2 in arrival order):
     *  t0 .5: n=1 top 1 -> rank 1 keep; rung 3: n=1 keep; completes.
     *  t1 .9: rung1 n=2 top1, rank1 keep; rung3 n=2, rank1 keep -> completes.
     *  t2 .3: rung1 n=3 top1, rank3 -> stop at 1.
     *  t3 .95: rung1 n=4 top1 rank1 keep; rung3 n=3 top1 rank1 keep.
     *  t4 .2: rung1 n=5 top1 rank 5 stop.
     *  t5 .6: rung1 n=6 top 2, ranks .95 .9 .6 -> rank3 stop.
     *  t6 .85: rung1 n=7 top2 rank 3 stop.
     *  t7 .1: stop at 1.
     *  t8 .99: rung1 n=9 top3 rank1 keep; rung3 n=4 top1 rank1 keep. */
    int expect[9] = { 9, 9, 1, 9, 1, 1, 1, 1, 9 };
    for (int t = 0; t < n; t++)
        ck_assert_msg(stopped_at[t] == expect[t], "trial %d stopped at %d, expected %d", t, stopped_at[t],
                      expect[t]);
    mlopt_asha_destroy(a);
}
END_TEST

START_TEST(test_rank_keep_ties)
{
    double v[] = { 0.5, 0.7, 0.7, 0.1, 0.2, 0.3 };
    /* n=6, eta=3: top 2: 0.7 (first), 0.7 (second) */
    ck_assert(mlopt_asha_rank_keep(v, 6, 1, 3, 0));
    ck_assert(mlopt_asha_rank_keep(v, 6, 2, 3, 0));
    ck_assert(!mlopt_asha_rank_keep(v, 6, 0, 3, 0));
    double w[] = { 0.7, 0.7 };
    /* n=2, eta=3: top max(1,0)=1: the earlier wins the tie */
    ck_assert(mlopt_asha_rank_keep(w, 2, 0, 3, 0));
    ck_assert(!mlopt_asha_rank_keep(w, 2, 1, 3, 0));
    /* bootstrap 2: the best of two values still stops; at n = 3 the rank rule decides */
    ck_assert(!mlopt_asha_rank_keep(w, 2, 0, 3, 2));
    ck_assert(!mlopt_asha_rank_keep(v, 2, 1, 3, 2));
    ck_assert(mlopt_asha_rank_keep(v, 3, 1, 3, 2));
    ck_assert(!mlopt_asha_rank_keep(v, 3, 0, 3, 2));
}
END_TEST

/* The same curves with bootstrap 2 (Optuna's bootstrap_count): the first
 * two arrivals at every rung stop, so no trial is promoted before it has
 * beaten eta - 1 others there. */
START_TEST(test_asha_bootstrap_on_curves)
{
    static const double q[] = { 0.5, 0.9, 0.3, 0.95, 0.2, 0.6, 0.85, 0.1, 0.99 };
    mlopt_asha_config cfg = { 3, 1, 9, 1, 2 };
    mlopt_asha *a;
    ck_assert_int_eq(mlopt_asha_create(&cfg, &a), MLOPT_OK);
    int epochs = 0;
    /* By hand.  Rung 1: t0 (n=1) and t1 (n=2) stop; t2 .3 n=3 rank 3 stops;
     * t3 .95 n=4 rank 1 goes on, and is the first at rung 3 (n=1): stops;
     * t4, t5 (n=6, top 2, rank 3), t6 (n=7, rank 3), t7 stop at 1;
     * t8 .99 n=9 top 3 rank 1 goes on, second at rung 3 (n=2): stops. */
    int expect[9] = { 1, 1, 1, 3, 1, 1, 1, 1, 3 };
    for (int t = 0; t < 9; t++) {
        int stopped_at = 9;
        for (int e = 1; e <= 9; e++) {
            int keep;
            ck_assert_int_eq(mlopt_asha_report(a, 0, e, q[t] * e / (e + 1.0), &keep), MLOPT_OK);
            if (!keep) {
                stopped_at = e;
                break;
            }
        }
        ck_assert_msg(stopped_at == expect[t], "trial %d stopped at %d, expected %d", t, stopped_at, expect[t]);
        epochs += stopped_at;
    }
    ck_assert_int_eq(epochs, 13); /* plain ASHA spent 41 on these curves */
    mlopt_asha_destroy(a);
    mlopt_asha_config bad = { 3, 1, 9, 1, -1 };
    ck_assert_int_eq(mlopt_asha_create(&bad, &a), MLOPT_E_INVALID);
}
END_TEST

START_TEST(test_sh_plan)
{
    int trials[8], epochs[8];
    int k = mlopt_sh_plan(27, 3, 1, 27, trials, epochs, 8);
    ck_assert_int_eq(k, 4);
    int et[] = { 27, 9, 3, 1 }, ee[] = { 1, 3, 9, 27 };
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(trials[i], et[i]);
        ck_assert_int_eq(epochs[i], ee[i]);
    }
    /* total trial-epochs of SH = 27+27+27+27 = 108 vs 27*27 for full runs */
    k = mlopt_sh_plan(10, 3, 1, 9, trials, epochs, 8);
    ck_assert_int_eq(k, 3);
    ck_assert_int_eq(trials[1], 3);
    ck_assert_int_eq(trials[2], 1);
    ck_assert_int_eq(epochs[2], 9);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("search_asha");
    TCase *tc = tcase_create("asha");
    tcase_add_test(tc, test_asha_rungs);
    tcase_add_test(tc, test_asha_rule_on_curves);
    tcase_add_test(tc, test_rank_keep_ties);
    tcase_add_test(tc, test_asha_bootstrap_on_curves);
    tcase_add_test(tc, test_sh_plan);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
