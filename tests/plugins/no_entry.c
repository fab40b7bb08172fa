/* A valid shared object named like a plugin that does not export
 * mlopt_backend_entry: the loader must say it is not an mlopt plugin. */
int mlopt_test_not_a_backend(void);
__attribute__((visibility("default"))) int mlopt_test_not_a_backend(void)
{
    return 42;
}
