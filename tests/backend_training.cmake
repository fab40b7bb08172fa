# Whole-model step-by-step cross-checks of every backend against the CPU reference.
mlopt_add_check_test(test_backend_training SOURCES test_backend_training.c TIMEOUT 240)
set_tests_properties(test_backend_training PROPERTIES ENVIRONMENT
  "CK_DEFAULT_TIMEOUT=240;MLOPT_BACKEND=;MLOPT_VULKAN_VALIDATION=1")
