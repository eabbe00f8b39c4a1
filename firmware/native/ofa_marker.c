/* Layer boundary marker for instruction counting (see firmware/tools/insn_plugin.c). */
#include "ofa_native.h"

__attribute__((noinline, used)) void ofa_layer_marker(int32_t layer) {
    __asm__ volatile("" : : "r"(layer) : "memory");
}
