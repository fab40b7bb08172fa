# cmake -DSPV=in.spv -DOUT=out.h -DNAME=ident -P embed_spirv.cmake
# Turns a SPIR-V binary into a C header holding it as a uint32_t array.
# SPIR-V words are little-endian in the file, so byte order is swapped here.
file(READ "${SPV}" hex HEX)
string(LENGTH "${hex}" hex_len)
math(EXPR rem "${hex_len} % 8")
if(hex_len EQUAL 0 OR NOT rem EQUAL 0)
  message(FATAL_ERROR "${SPV}: not a SPIR-V binary (size not a multiple of 4)")
endif()
string(REGEX REPLACE "(..)(..)(..)(..)" "0x\\4\\3\\2\\1u," words "${hex}")
string(REGEX REPLACE "((0x[0-9a-f]+u,){8})" "\\1\n  " words "${words}")
file(WRITE "${OUT}.tmp"
"/* Generated from ${NAME}.comp by embed_spirv.cmake; do not edit. */
static const uint32_t vk_spv_${NAME}[] = {
  ${words}
};
")
file(RENAME "${OUT}.tmp" "${OUT}")
