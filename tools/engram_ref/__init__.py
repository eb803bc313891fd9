"""engram_ref: an independent, plain PyTorch reference of docs/schemes.md (float64 capable).

Modules: infini (section 1), continuous (section 2), lsh (section 3 + the section 5 baselines
full/window with none/rope/alibi), knn (section 4), make_cases (conformance case writer).
Every function takes a `dtype` (default float64) so the same code can be run in float32 to
estimate how much a float32 implementation may drift from the float64 expectation."""
