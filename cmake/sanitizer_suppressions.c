/* Linked into libmlopt only in -DMLOPT_SANITIZE=ON builds: LeakSanitizer
 * suppressions for allocations that third-party drivers (PoCL and its LLVM,
 * CLBlast, the Vulkan loader and Mesa) keep until process exit.  mlopt's own
 * code gets no suppressions. */
const char *__lsan_default_suppressions(void);

const char *__lsan_default_suppressions(void)
{
    return "leak:libpocl\n"
           "leak:libLLVM\n"
           "leak:libclblast\n"
           "leak:libOpenCL\n"
           "leak:libvulkan\n"
           "leak:libvulkan_lvp\n"
           "leak:libVkLayer_khronos_validation\n"
           "leak:libglapi\n"
           "leak:libdrm\n";
}
