{
  "targets": [
    {
      "target_name": "trustgc_dnnl",
      "sources": ["src/dnnl_kernels.cc", "src/fused_kernels.cc", "src/gemm_conv.cc"],
      "cflags_cc": ["-O3", "-ffast-math", "-std=c++17", "-fopenmp", "-fexceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "libraries": ["-ldnnl", "-fopenmp"]
    }
  ]
}
