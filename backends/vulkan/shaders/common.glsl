// Shared by every compute shader.  Specialization constant 0 is the
// workgroup size (a power of two chosen per device); workgroup reductions
// use shared memory and barriers only, never a subgroup size assumption.
layout(local_size_x_id = 0) in;
#define WG gl_WorkGroupSize.x
#define LID gl_LocalInvocationID.x

// Grid-stride loop over [0, n): dispatches are capped at 65535 groups.
#define FOR_EACH_INDEX(i, n) \
    for (uint i = gl_GlobalInvocationID.x; i < (n); i += gl_NumWorkGroups.x * WG)

// In-place tree reduction of shared array RED (WG entries) with OP; the
// result ends up in RED[0], visible to every invocation after the call.
#define WG_REDUCE(RED, OP)                                        \
    barrier();                                                    \
    for (uint s_ = WG / 2u; s_ > 0u; s_ >>= 1u) {                 \
        if (LID < s_) RED[LID] = OP(RED[LID], RED[LID + s_]);     \
        barrier();                                                \
    }

float op_add(float a, float b) { return a + b; }
float op_max(float a, float b) { return max(a, b); }
// NaN test on the bits: drivers may fold isnan(x) (x != x) away.
bool nan_bits(float v) { return (floatBitsToUint(v) & 0x7fffffffu) > 0x7f800000u; }
// max that propagates NaN (GLSL's max leaves NaN handling undefined)
float op_max_nan(float a, float b) { return (nan_bits(a) || nan_bits(b)) ? a + b : max(a, b); }

// One workgroup per row; rows may exceed the 65535 groups of one dimension.
uint row_index() { return gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x; }
