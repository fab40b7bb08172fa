/* Samplers: grid enumerates exactly, random covers its space and follows
 * its seed, TPE concentrates near the optimum better than random. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mlopt/search.h"

static void space_of(mlopt_hp_space *s, const char *text)
{
    ck_assert_msg(mlopt_hp_space_parse(text, "test", s) == MLOPT_OK, "%s", mlopt_last_error());
}

START_TEST(test_space_parse)
{
    mlopt_hp_space s;
    space_of(&s, "# comment\nlr log 1e-4 1e-1 grid=4\nmomentum float 0.5 0.9\nbatch choice 32 64 128\n"
                 "epochs int 1 3\nopt fixed sgd\n");
    ck_assert_int_eq(s.ndims, 5);
    ck_assert_int_eq(s.dims[0].type, MLOPT_HP_LOG);
    ck_assert_int_eq(s.dims[0].grid, 4);
    ck_assert_int_eq(s.dims[2].nchoices, 3);
    ck_assert_int_eq(s.dims[4].nchoices, 1);
    mlopt_hp_space bad;
    ck_assert_int_ne(mlopt_hp_space_parse("lr log 0 1\n", "t", &bad), MLOPT_OK);
    ck_assert_int_ne(mlopt_hp_space_parse("lr float 2 1\n", "t", &bad), MLOPT_OK);
    ck_assert_int_ne(mlopt_hp_space_parse("lr weird 1 2\n", "t", &bad), MLOPT_OK);
    ck_assert_int_ne(mlopt_hp_space_parse("lr float 1 2\nlr float 1 2\n", "t", &bad), MLOPT_OK);
    /* value text round trip */
    mlopt_hp_point p = { { 0.00123, 0.7, 2, 3, 0 } }, q;
    for (int i = 0; i < s.ndims; i++) {
        char buf[64];
        mlopt_hp_value_text(&s, &p, i, buf, sizeof buf);
        ck_assert_int_eq(mlopt_hp_value_parse(&s, i, buf, &q), MLOPT_OK);
        ck_assert(fabs(q.v[i] - p.v[i]) <= 1e-9 * fabs(p.v[i]) + 1e-12);
    }
}
END_TEST

START_TEST(test_grid_exact)
{
    mlopt_hp_space s;
    space_of(&s, "lr log 0.001 0.1 grid=3\nbatch choice 32 64\nepochs int 1 4\n");
    ck_assert_int_eq(mlopt_grid_size(&s), 3 * 2 * 4);
    /* every combination exactly once */
    int seen[3][2][4] = { { { 0 } } };
    for (long long i = 0; i < mlopt_grid_size(&s); i++) {
        mlopt_hp_point p;
        mlopt_grid_point(&s, i, &p);
        int a = (int)lround(log10(p.v[0]) + 3);
        ck_assert(fabs(p.v[0] - pow(10, a - 3)) < 1e-12);
        ck_assert(a >= 0 && a < 3);
        seen[a][(int)p.v[1]][(int)p.v[2] - 1]++;
    }
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 2; b++)
            for (int c = 0; c < 4; c++)
                ck_assert_int_eq(seen[a][b][c], 1);
}
END_TEST

START_TEST(test_random_seed_and_coverage)
{
    mlopt_hp_space s;
    space_of(&s, "lr log 1e-4 1 \nm float -1 1\nk int 2 5\nc choice a b c\n");
    mlopt_rng64 r1, r2, r3;
    mlopt_rng64_seed(&r1, 42, 7);
    mlopt_rng64_seed(&r2, 42, 7);
    mlopt_rng64_seed(&r3, 43, 7);
    int decades[4] = { 0 }, ks[4] = { 0 }, cs[3] = { 0 }, differ = 0;
    double mmin = 1, mmax = -1;
    for (int i = 0; i < 4000; i++) {
        mlopt_hp_point a, b, c;
        mlopt_random_point(&s, &r1, &a);
        mlopt_random_point(&s, &r2, &b);
        mlopt_random_point(&s, &r3, &c);
        ck_assert(memcmp(&a, &b, sizeof a) == 0); /* same seed, same sequence */
        differ += a.v[0] != c.v[0];
        ck_assert(a.v[0] >= 1e-4 && a.v[0] <= 1);
        decades[(int)fmin(3, floor(log10(a.v[0]) + 4))]++;
        ck_assert(a.v[1] >= -1 && a.v[1] <= 1);
        mmin = fmin(mmin, a.v[1]), mmax = fmax(mmax, a.v[1]);
        ck_assert(a.v[2] == floor(a.v[2]) && a.v[2] >= 2 && a.v[2] <= 5);
        ks[(int)a.v[2] - 2]++;
        cs[(int)a.v[3]]++;
    }
    ck_assert_int_gt(differ, 3990);
    for (int i = 0; i < 4; i++) /* log-uniform: each decade about a quarter */
        ck_assert_msg(decades[i] > 800 && decades[i] < 1200, "decade %d: %d", i, decades[i]);
    for (int i = 0; i < 4; i++)
        ck_assert(ks[i] > 800 && ks[i] < 1200);
    for (int i = 0; i < 3; i++)
        ck_assert(cs[i] > 1100 && cs[i] < 1600);
    ck_assert(mmin < -0.99 && mmax > 0.99);
}
END_TEST

/* A 1-D objective with its optimum at lr = 0.01 (log scale). */
static double objective(double lr)
{
    double d = log10(lr) + 2;
    return -d * d;
}

static double run_sampler(int tpe, uint64_t seed, int n, int *near)
{
    mlopt_hp_space s;
    space_of(&s, "lr log 1e-6 1\n");
    mlopt_hp_point obs[64];
    double val[64];
    mlopt_tpe_config cfg = { 0.25, 24, 8 };
    *near = 0;
    for (int i = 0; i < n; i++) {
        mlopt_rng64 r;
        mlopt_rng64_seed(&r, seed, (uint64_t)i);
        if (tpe)
            ck_assert_int_eq(mlopt_tpe_suggest(&s, &cfg, obs, val, i, &r, &obs[i]), MLOPT_OK);
        else
            mlopt_random_point(&s, &r, &obs[i]);
        val[i] = objective(obs[i].v[0]);
        if (i >= n / 2 && fabs(log10(obs[i].v[0]) + 2) < 0.5)
            (*near)++;
    }
    double best = -1e9;
    for (int i = 0; i < n; i++)
        best = fmax(best, val[i]);
    return best;
}

START_TEST(test_tpe_beats_random)
{
    int tpe_near = 0, rnd_near = 0;
    double tpe_best = 0, rnd_best = 0;
    for (uint64_t seed = 1; seed <= 10; seed++) {
        int a, b;
        tpe_best += run_sampler(1, seed, 40, &a);
        rnd_best += run_sampler(0, seed, 40, &b);
        tpe_near += a, rnd_near += b;
    }
    /* second half of each run: TPE samples within half a decade of the
     * optimum far more often than random (expected 1/6 of the draws) */
    ck_assert_msg(tpe_near > 2 * rnd_near, "TPE near %d vs random %d", tpe_near, rnd_near);
    ck_assert_msg(tpe_best > rnd_best, "TPE best %g vs random %g", tpe_best, rnd_best);
    /* deterministic for a seed */
    int x, y;
    ck_assert(run_sampler(1, 5, 30, &x) == run_sampler(1, 5, 30, &y));
    ck_assert_int_eq(x, y);
}
END_TEST

START_TEST(test_tpe_categorical)
{
    mlopt_hp_space s;
    space_of(&s, "opt choice a b c d\nlr float 0 1\n");
    mlopt_hp_point obs[60];
    double val[60];
    int picks_c = 0;
    for (int i = 0; i < 60; i++) {
        mlopt_rng64 r;
        mlopt_rng64_seed(&r, 3, (uint64_t)i);
        ck_assert_int_eq(mlopt_tpe_suggest(&s, NULL, obs, val, i, &r, &obs[i]), MLOPT_OK);
        ck_assert(obs[i].v[0] >= 0 && obs[i].v[0] < 4 && obs[i].v[1] >= 0 && obs[i].v[1] <= 1);
        val[i] = (obs[i].v[0] == 2 ? 1.0 : 0.0) - fabs(obs[i].v[1] - 0.3);
        if (i >= 30)
            picks_c += obs[i].v[0] == 2;
    }
    ck_assert_msg(picks_c > 15, "TPE picked the best choice %d/30 times", picks_c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("search_samplers");
    TCase *tc = tcase_create("samplers");
    tcase_add_test(tc, test_space_parse);
    tcase_add_test(tc, test_grid_exact);
    tcase_add_test(tc, test_random_seed_and_coverage);
    tcase_add_test(tc, test_tpe_beats_random);
    tcase_add_test(tc, test_tpe_categorical);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
