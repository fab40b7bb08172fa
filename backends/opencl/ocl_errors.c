/* Turns OpenCL and CLBlast status codes into names for error messages. */
#include <stdio.h>


#include "ocl_internal.h"

#include <clblast_c.h>

const char *ocl_status_name(cl_int status)
{
    switch (status) {
#define N(code, name) case code: return name;
    N(0, "CL_SUCCESS")
    N(-1, "CL_DEVICE_NOT_FOUND")
    N(-2, "CL_DEVICE_NOT_AVAILABLE")
    N(-3, "CL_COMPILER_NOT_AVAILABLE")
    N(-4, "CL_MEM_OBJECT_ALLOCATION_FAILURE")
    N(-5, "CL_OUT_OF_RESOURCES")
    N(-6, "CL_OUT_OF_HOST_MEMORY")
    N(-7, "CL_PROFILING_INFO_NOT_AVAILABLE")
    N(-8, "CL_MEM_COPY_OVERLAP")
    N(-9, "CL_IMAGE_FORMAT_MISMATCH")
    N(-10, "CL_IMAGE_FORMAT_NOT_SUPPORTED")
    N(-11, "CL_BUILD_PROGRAM_FAILURE")
    N(-12, "CL_MAP_FAILURE")
    N(-13, "CL_MISALIGNED_SUB_BUFFER_OFFSET")
    N(-14, "CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST")
    N(-15, "CL_COMPILE_PROGRAM_FAILURE")
    N(-16, "CL_LINKER_NOT_AVAILABLE")
    N(-17, "CL_LINK_PROGRAM_FAILURE")
    N(-18, "CL_DEVICE_PARTITION_FAILED")
    N(-19, "CL_KERNEL_ARG_INFO_NOT_AVAILABLE")
    N(-30, "CL_INVALID_VALUE")
    N(-31, "CL_INVALID_DEVICE_TYPE")
    N(-32, "CL_INVALID_PLATFORM")
    N(-33, "CL_INVALID_DEVICE")
    N(-34, "CL_INVALID_CONTEXT")
    N(-35, "CL_INVALID_QUEUE_PROPERTIES")
    N(-36, "CL_INVALID_COMMAND_QUEUE")
    N(-37, "CL_INVALID_HOST_PTR")
    N(-38, "CL_INVALID_MEM_OBJECT")
    N(-39, "CL_INVALID_IMAGE_FORMAT_DESCRIPTOR")
    N(-40, "CL_INVALID_IMAGE_SIZE")
    N(-41, "CL_INVALID_SAMPLER")
    N(-42, "CL_INVALID_BINARY")
    N(-43, "CL_INVALID_BUILD_OPTIONS")
    N(-44, "CL_INVALID_PROGRAM")
    N(-45, "CL_INVALID_PROGRAM_EXECUTABLE")
    N(-46, "CL_INVALID_KERNEL_NAME")
    N(-47, "CL_INVALID_KERNEL_DEFINITION")
    N(-48, "CL_INVALID_KERNEL")
    N(-49, "CL_INVALID_ARG_INDEX")
    N(-50, "CL_INVALID_ARG_VALUE")
    N(-51, "CL_INVALID_ARG_SIZE")
    N(-52, "CL_INVALID_KERNEL_ARGS")
    N(-53, "CL_INVALID_WORK_DIMENSION")
    N(-54, "CL_INVALID_WORK_GROUP_SIZE")
    N(-55, "CL_INVALID_WORK_ITEM_SIZE")
    N(-56, "CL_INVALID_GLOBAL_OFFSET")
    N(-57, "CL_INVALID_EVENT_WAIT_LIST")
    N(-58, "CL_INVALID_EVENT")
    N(-59, "CL_INVALID_OPERATION")
    N(-60, "CL_INVALID_GL_OBJECT")
    N(-61, "CL_INVALID_BUFFER_SIZE")
    N(-62, "CL_INVALID_MIP_LEVEL")
    N(-63, "CL_INVALID_GLOBAL_WORK_SIZE")
    N(-64, "CL_INVALID_PROPERTY")
    N(-65, "CL_INVALID_IMAGE_DESCRIPTOR")
    N(-66, "CL_INVALID_COMPILER_OPTIONS")
    N(-67, "CL_INVALID_LINKER_OPTIONS")
    N(-68, "CL_INVALID_DEVICE_PARTITION_COUNT")
    N(-69, "CL_INVALID_PIPE_SIZE")
    N(-70, "CL_INVALID_DEVICE_QUEUE")
    N(-71, "CL_INVALID_SPEC_ID")
    N(-72, "CL_MAX_SIZE_RESTRICTION_EXCEEDED")
    N(-1000, "CL_INVALID_GL_SHAREGROUP_REFERENCE_KHR")
    N(-1001, "CL_PLATFORM_NOT_FOUND_KHR")
    N(-1002, "CL_INVALID_D3D10_DEVICE_KHR")
    N(-1003, "CL_INVALID_D3D10_RESOURCE_KHR")
    N(-1057, "CL_DEVICE_PARTITION_FAILED_EXT")
    N(-1058, "CL_INVALID_PARTITION_COUNT_EXT")
    N(-1059, "CL_INVALID_PARTITION_NAME_EXT")
    N(-1092, "CL_EGL_RESOURCE_NOT_ACQUIRED_KHR")
    N(-1093, "CL_INVALID_EGL_OBJECT_KHR")
    N(-1094, "CL_INVALID_ACCELERATOR_INTEL")
    N(-1095, "CL_INVALID_ACCELERATOR_TYPE_INTEL")
    N(-1096, "CL_INVALID_ACCELERATOR_DESCRIPTOR_INTEL")
    N(-1097, "CL_ACCELERATOR_TYPE_NOT_SUPPORTED_INTEL")
    N(-1098, "CL_INVALID_VA_API_MEDIA_ADAPTER_INTEL")
    N(-1099, "CL_INVALID_VA_API_MEDIA_SURFACE_INTEL")
    N(-1100, "CL_VA_API_MEDIA_SURFACE_ALREADY_ACQUIRED_INTEL")
    N(-1101, "CL_VA_API_MEDIA_SURFACE_NOT_ACQUIRED_INTEL")
#undef N
    default: return "unknown OpenCL status";
    }
}

const char *ocl_clblast_status_name(int status)
{
    switch (status) {
#define N(code) case code: return #code;
    N(CLBlastSuccess)
    N(CLBlastOpenCLCompilerNotAvailable)
    N(CLBlastTempBufferAllocFailure)
    N(CLBlastOpenCLOutOfResources)
    N(CLBlastOpenCLOutOfHostMemory)
    N(CLBlastOpenCLBuildProgramFailure)
    N(CLBlastInvalidValue)
    N(CLBlastInvalidCommandQueue)
    N(CLBlastInvalidMemObject)
    N(CLBlastInvalidBinary)
    N(CLBlastInvalidBuildOptions)
    N(CLBlastInvalidProgram)
    N(CLBlastInvalidProgramExecutable)
    N(CLBlastInvalidKernelName)
    N(CLBlastInvalidKernelDefinition)
    N(CLBlastInvalidKernel)
    N(CLBlastInvalidArgIndex)
    N(CLBlastInvalidArgValue)
    N(CLBlastInvalidArgSize)
    N(CLBlastInvalidKernelArgs)
    N(CLBlastInvalidLocalNumDimensions)
    N(CLBlastInvalidLocalThreadsTotal)
    N(CLBlastInvalidLocalThreadsDim)
    N(CLBlastInvalidGlobalOffset)
    N(CLBlastInvalidEventWaitList)
    N(CLBlastInvalidEvent)
    N(CLBlastInvalidOperation)
    N(CLBlastInvalidBufferSize)
    N(CLBlastInvalidGlobalWorkSize)
    N(CLBlastNotImplemented)
    N(CLBlastInvalidMatrixA)
    N(CLBlastInvalidMatrixB)
    N(CLBlastInvalidMatrixC)
    N(CLBlastInvalidVectorX)
    N(CLBlastInvalidVectorY)
    N(CLBlastInvalidDimension)
    N(CLBlastInvalidLeadDimA)
    N(CLBlastInvalidLeadDimB)
    N(CLBlastInvalidLeadDimC)
    N(CLBlastInvalidIncrementX)
    N(CLBlastInvalidIncrementY)
    N(CLBlastInsufficientMemoryA)
    N(CLBlastInsufficientMemoryB)
    N(CLBlastInsufficientMemoryC)
    N(CLBlastInsufficientMemoryX)
    N(CLBlastInsufficientMemoryY)
    N(CLBlastInsufficientMemoryTemp)
    N(CLBlastInvalidBatchCount)
    N(CLBlastInvalidOverrideKernel)
    N(CLBlastMissingOverrideParameter)
    N(CLBlastInvalidLocalMemUsage)
    N(CLBlastNoHalfPrecision)
    N(CLBlastNoDoublePrecision)
    N(CLBlastInvalidVectorScalar)
    N(CLBlastInsufficientMemoryScalar)
    N(CLBlastDatabaseError)
    N(CLBlastUnknownError)
    N(CLBlastUnexpectedError)
#undef N
    default: return "unknown CLBlast status";
    }
}

int ocl_fail(ocl_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->err, sizeof ctx->err, fmt, ap);
    va_end(ap);
    return 1;
}

/* A hint for the statuses a user can do something about. */
static const char *status_hint(cl_int status)
{
    switch (status) {
    case CL_MEM_OBJECT_ALLOCATION_FAILURE:
    case CL_OUT_OF_RESOURCES:
        return ": the device ran out of memory; try a smaller --batch";
    case CL_OUT_OF_HOST_MEMORY:
        return ": the host ran out of memory";
    case CL_INVALID_WORK_GROUP_SIZE:
        return ": the driver rejected the work-group size (please report)";
    default:
        return "";
    }
}

int ocl_fail_status(ocl_ctx *ctx, cl_int status, const char *call, const char *what)
{
    return ocl_fail(ctx, "%s in %s(%s)%s", ocl_status_name(status), call, what ? what : "",
                    status_hint(status));
}
