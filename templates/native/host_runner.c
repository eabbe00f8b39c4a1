/* Host harness: ofa_host_runner IN.bin OUT.bin runs the model on every input in IN.bin
 * (concatenated int8 inputs) and writes the concatenated int8 outputs to OUT.bin. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ofa_model.h"

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s IN.bin OUT.bin\n", argv[0]);
        return 2;
    }
    FILE *fi = fopen(argv[1], "rb");
    FILE *fo = fopen(argv[2], "wb");
    if (!fi || !fo) {
        fprintf(stderr, "cannot open %s or %s\n", argv[1], argv[2]);
        return 2;
    }
    long n = 0;
    while (fread(ofa_model_input(), 1, OFA_MODEL_INPUT_SIZE, fi) == OFA_MODEL_INPUT_SIZE) {
        ofa_model_invoke();
        if (fwrite(ofa_model_output(), 1, OFA_MODEL_OUTPUT_SIZE, fo) != OFA_MODEL_OUTPUT_SIZE) return 3;
        ++n;
    }
    fclose(fi);
    fclose(fo);
    fprintf(stderr, "%ld inputs\n", n);
    return 0;
}
