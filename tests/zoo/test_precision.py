"""`--precision auto`: the CPU's bfloat16 instructions read from
/proc/cpuinfo, and the policy chosen from them and the model's width."""

import pytest

from zoo import precision

FLAGS = "fpu vme de pse tsc msr avx2 avx512f avx512_vnni"


def cpuinfo(tmp_path, flags):
    path = tmp_path / "cpuinfo"
    path.write_text(
        f"processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: {flags}\n\n"
    )
    return path


@pytest.mark.parametrize(
    "flags, expected",
    [
        (FLAGS, False),
        (FLAGS + " avx512_bf16", True),
        (FLAGS + " amx_bf16 amx_tile", True),
        # A flag whose name only contains the word is not it.
        (FLAGS + " avx512_bf16x", False),
    ],
)
def test_bfloat16_instructions_are_read_from_the_flags(
    tmp_path, flags, expected
):
    assert precision.cpu_bfloat16(cpuinfo(tmp_path, flags)) is expected


def test_no_cpuinfo_means_no_bfloat16(tmp_path):
    assert precision.cpu_bfloat16(tmp_path / "missing") is False


@pytest.fixture
def bfloat16_cpu(monkeypatch):
    monkeypatch.setattr(precision, "cpu_bfloat16", lambda: True)
    monkeypatch.setattr(precision, "_gpu", lambda: False)


def test_auto_trains_wide_models_in_bfloat16_without_xla(bfloat16_cpu):
    width = precision.BFLOAT16_FROM_D_MODEL
    assert precision.choose("auto", True, width)[:2] == (
        "mixed_bfloat16",
        False,
    )
    policy, jit, reason = precision.choose("auto", True, width - 1)
    assert (policy, jit) == ("float32", True)
    assert str(width - 1) in reason


def test_auto_is_float32_without_bfloat16_instructions(monkeypatch):
    monkeypatch.setattr(precision, "cpu_bfloat16", lambda: False)
    policy, jit, reason = precision.choose("auto", True, 512)
    assert (policy, jit) == ("float32", True)
    assert "no bfloat16" in reason


def test_auto_is_float32_on_several_machines(bfloat16_cpu):
    # Each worker resolves auto itself: only float32 is sure to agree.
    assert precision.choose("auto", True, 512, machines=2)[:2] == (
        "float32",
        True,
    )


def test_auto_is_float32_with_a_gpu(bfloat16_cpu, monkeypatch):
    monkeypatch.setattr(precision, "_gpu", lambda: True)
    assert precision.choose("auto", True, 512)[:2] == ("float32", True)


def test_a_given_policy_and_a_resumed_run_keep_theirs(bfloat16_cpu):
    assert precision.choose("float32", True, 512)[:2] == ("float32", True)
    assert precision.choose("mixed_bfloat16", True, 64)[:2] == (
        "mixed_bfloat16",
        True,
    )
    # A run started in float32 with XLA resumes so, whatever auto would
    # choose now; one recorded before jit_compile was, keeps the flag.
    assert precision.choose("auto", True, 512, ("float32", True))[:2] == (
        "float32",
        True,
    )
    assert precision.choose("auto", False, 64, ("float32", None))[:2] == (
        "float32",
        False,
    )
