"""`dealpulse bench scoring` records the CPU model and the vector extensions int8 speed depends on."""

import importlib.util

from dealpulse.config import PROJECT_ROOT

spec = importlib.util.spec_from_file_location("bench_scoring", PROJECT_ROOT / "bench" / "bench_scoring.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)

CPUINFO = """processor\t: 0
model name\t: AMD EPYC 7B13
flags\t\t: fpu sse2 avx avx2 fma bmi2
processor\t: 1
model name\t: AMD EPYC 7B13
flags\t\t: fpu sse2 avx avx2 fma bmi2 avx512f
"""


def test_the_cpu_model_and_its_vector_extensions_come_from_cpuinfo() -> None:
    assert bench.cpu_description(CPUINFO) == {"model": "AMD EPYC 7B13", "vector_extensions": ["avx2"]}
    xeon = CPUINFO.replace("AMD EPYC 7B13", "Intel Xeon").replace("bmi2\n", "bmi2 avx512f avx512_vnni amx_int8 amx_tile\n", 1)
    assert bench.cpu_description(xeon)["vector_extensions"] == ["avx2", "avx512f", "avx512_vnni", "amx_tile", "amx_int8"]


def test_opposite_polarity_counts_only_backwards_readings() -> None:
    gold = ["positive", "negative", "neutral", "positive"]
    assert bench.opposite_polarity_count(gold, ["negative", "positive", "positive", "neutral"]) == 2
