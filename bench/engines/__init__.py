"""Engine experiments the classifier benchmark measures (not served by the runtime):
Conv3d as unfold + GEMM (``conv3d_unfold``), INT8 quantisation (``quantize``), FLOP
counts (``flops``), ONNX Runtime profiles (``ort_profile``) and torch precision timing on
a GPU (``torch_precision_bench``). Their conclusions are in BENCHMARKS.md."""
