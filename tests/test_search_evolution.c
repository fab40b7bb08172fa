/* Aging evolution keeps its population size and removes the oldest;
 * architectures: sampling, mutation validity, text round trip; Pareto
 * fronts. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mlopt/search.h"

START_TEST(test_aging_removes_oldest)
{
    mlopt_arch_space s;
    mlopt_arch_space_default(&s);
    mlopt_evo e;
    ck_assert_int_eq(mlopt_evo_init(&e, 5, 2, 0), MLOPT_OK);
    mlopt_rng64 rng;
    mlopt_rng64_seed(&rng, 1, 0);
    for (int id = 0; id < 23; id++) {
        mlopt_arch a;
        int parent;
        mlopt_evo_propose(&e, &s, &rng, 28, 28, &a, &parent);
        ck_assert(mlopt_arch_valid(&a, 28, 28));
        if (id < 5) {
            ck_assert_int_eq(parent, -1); /* population not full: random */
        } else {
            /* the parent is a current member */
            int found = 0;
            for (int i = 0; i < e.count; i++)
                found |= mlopt_evo_member_at(&e, i)->id == parent;
            ck_assert(found);
        }
        /* fitness decreasing with age would make "remove the worst" and
         * "remove the oldest" differ: the newest is always the worst */
        mlopt_evo_add(&e, &a, 1.0 - 0.01 * id, 0, id);
        ck_assert_int_eq(e.count, id < 5 ? id + 1 : 5);
        /* members are exactly the last min(5, id+1) ids, oldest first */
        int first = id < 5 ? 0 : id - 4;
        for (int i = 0; i < e.count; i++)
            ck_assert_int_eq(mlopt_evo_member_at(&e, i)->id, first + i);
    }
    mlopt_evo_free(&e);
}
END_TEST

START_TEST(test_tournament_picks_best_of_sample)
{
    mlopt_arch_space s;
    mlopt_arch_space_default(&s);
    mlopt_evo e;
    /* S = P: the sample (with replacement) nearly always contains the best */
    ck_assert_int_eq(mlopt_evo_init(&e, 4, 4, 0), MLOPT_OK);
    mlopt_rng64 rng;
    mlopt_rng64_seed(&rng, 9, 0);
    for (int id = 0; id < 4; id++) {
        mlopt_arch a;
        mlopt_arch_random(&s, &rng, 28, 28, &a);
        mlopt_evo_add(&e, &a, id == 2 ? 0.9 : 0.1, 0, id);
    }
    int best_parent = 0;
    for (int k = 0; k < 200; k++) {
        mlopt_arch c;
        int parent;
        mlopt_evo_propose(&e, &s, &rng, 28, 28, &c, &parent);
        best_parent += parent == 2;
        ck_assert(memcmp(&c, &mlopt_evo_member_at(&e, parent)->arch, sizeof c) != 0); /* mutated */
    }
    /* P(best in a 4-sample with replacement) = 1 - (3/4)^4 = 0.68 */
    ck_assert_msg(best_parent > 110 && best_parent < 160, "%d", best_parent);
    mlopt_evo_free(&e);
}
END_TEST

START_TEST(test_arch_roundtrip_and_specs)
{
    mlopt_arch_space s;
    mlopt_arch_space_default(&s);
    mlopt_rng64 rng;
    mlopt_rng64_seed(&rng, 2, 0);
    for (int i = 0; i < 300; i++) {
        mlopt_arch a, b, m;
        mlopt_arch_random(&s, &rng, 28, 28, &a);
        ck_assert(a.conv_stages >= 1 && a.conv_stages <= 3 && a.linear_layers <= 2);
        char text[512];
        mlopt_arch_format(&s, &a, text, sizeof text);
        ck_assert_msg(mlopt_arch_parse(&s, text, &b) == MLOPT_OK, "%s", mlopt_last_error());
        ck_assert_msg(memcmp(&a, &b, sizeof a) == 0, "round trip of %s", text);
        mlopt_arch_mutate(&s, &rng, 28, 28, &a, &m);
        ck_assert(mlopt_arch_valid(&m, 28, 28));
        ck_assert(memcmp(&a, &m, sizeof a) != 0);
        mlopt_layer_spec *specs;
        int n;
        ck_assert_int_eq(mlopt_arch_to_specs(&s, &a, 10, &specs, &n), MLOPT_OK);
        ck_assert_int_eq(specs[n - 1].kind, MLOPT_LAYER_LINEAR);
        ck_assert_int_eq(specs[n - 1].out, 10);
        free(specs);
    }
    /* the seed CNN is in the default space */
    mlopt_arch seed;
    ck_assert_int_eq(mlopt_arch_parse(&s, "conv=32x3:relu,64x3:relu;linear=128:relu;bn=0;pad=valid", &seed),
                     MLOPT_OK);
    mlopt_layer_spec *specs;
    int n;
    ck_assert_int_eq(mlopt_arch_to_specs(&s, &seed, 10, &specs, &n), MLOPT_OK);
    char *text;
    ck_assert_int_eq(mlopt_spec_format(specs, n, &text), MLOPT_OK);
    mlopt_layer_spec *ref;
    int nref;
    ck_assert_int_eq(mlopt_spec_preset("seed-cnn", &ref, &nref), MLOPT_OK);
    char *reftext;
    ck_assert_int_eq(mlopt_spec_format(ref, nref, &reftext), MLOPT_OK);
    ck_assert_str_eq(text, reftext);
    free(text), free(reftext), free(specs), free(ref);
    /* space file */
    mlopt_arch_space p;
    ck_assert_int_eq(mlopt_arch_space_parse("conv_stages 2 3\nconv_widths 8 16\nkernels 3\nlinear_layers 0 1\n"
                                            "activations relu\nbatchnorm off\npad same\n", "t", &p), MLOPT_OK);
    ck_assert_int_eq(p.min_conv, 2);
    ck_assert_int_eq(p.nconv_widths, 2);
    ck_assert_int_eq(p.batchnorm, 0);
    ck_assert_int_eq(p.pad, 1);
    ck_assert_int_ne(mlopt_arch_space_parse("bogus 1\n", "t", &p), MLOPT_OK);
}
END_TEST

START_TEST(test_pareto)
{
    double acc[] = { 0.9, 0.8, 0.85, 0.9, 0.7, NAN, 0.95, 0.85 };
    double cost[] = { 10, 2, 5, 12, 1, 0.1, 30, 5 };
    int front[8];
    int n = mlopt_pareto_front(acc, cost, 8, front);
    int expect[] = { 1, 1, 1, 0, 1, 0, 1, 1 }; /* 3 dominated by 0; 5 has no accuracy; 2 and 7 duplicates */
    for (int i = 0; i < 8; i++)
        ck_assert_msg(front[i] == expect[i], "point %d", i);
    ck_assert_int_eq(n, 6);
    /* brute-force check on random points: front members are not dominated,
     * the rest are */
    mlopt_rng64 r;
    mlopt_rng64_seed(&r, 4, 0);
    double a[200], c[200];
    int f[200];
    for (int i = 0; i < 200; i++)
        a[i] = floor(mlopt_rng64_uniform(&r) * 20), c[i] = floor(mlopt_rng64_uniform(&r) * 20);
    mlopt_pareto_front(a, c, 200, f);
    for (int i = 0; i < 200; i++) {
        int dom = 0;
        for (int j = 0; j < 200; j++)
            dom |= a[j] >= a[i] && c[j] <= c[i] && (a[j] > a[i] || c[j] < c[i]);
        ck_assert_int_eq(f[i], !dom);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("search_evolution");
    TCase *tc = tcase_create("evolution");
    tcase_add_test(tc, test_aging_removes_oldest);
    tcase_add_test(tc, test_tournament_picks_best_of_sample);
    tcase_add_test(tc, test_arch_roundtrip_and_specs);
    tcase_add_test(tc, test_pareto);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
