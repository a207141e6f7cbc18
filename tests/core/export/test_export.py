"""Export of the demo model to GGUF: files, registration, Modelfile, parity, clean failure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli import run_cli

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("export"), pytest.mark.learning]


def test_export_writes_registers_and_checks_parity(exported):
    report = exported["report"]
    folder = Path(report["folder"])
    assert {f["quant"] for f in report["files"]} == {"q8_0", "f16"}
    from core.export import sha256_file
    from core.workspace import Workspace

    with Workspace.open(exported["home"]).store() as store:
        models = {m.name: m for m in store.list_models(kind="gguf")}
    for f in report["files"]:
        path = Path(f["path"])
        assert path.parent == folder and path.is_file()
        model = models[f"demo-{f['quant']}"]
        assert model.sha256 == sha256_file(path) == f["sha256"]
        assert model.size_bytes == path.stat().st_size
        assert model.quant == f["quant"] and model.base == str(exported["demo"])
    # Q8_0 is smaller than F16
    sizes = {f["quant"]: f["size_bytes"] for f in report["files"]}
    assert sizes["q8_0"] < sizes["f16"]
    # tokenizer files of the merged folder are the base's, byte for byte
    for name in ("tokenizer.model", "tokenizer_config.json"):
        assert (folder / "merged" / name).read_bytes() == (exported["demo"] / name).read_bytes()
    # no half-written folder is left behind
    assert [p.name for p in folder.parent.iterdir()] == ["demo"]

    parity = report["parity"]
    assert parity["ok"], parity["warnings"]
    assert parity["template_equal"] and parity["tokens_equal"] and parity["eos_equal"]
    assert not parity["double_bos"]
    assert parity["prompt_hf"] == parity["prompt_gguf"]
    assert parity["prompt_hf"].startswith("<s><start_of_turn>user\n")
    for a in parity["answers"]:
        assert a["matched"] == a["hf_tokens"] == a["gguf_tokens"] > 0
        assert a["hf_stopped"] and a["gguf_stopped"], "the demo model ends its answers with <end_of_turn>"
        assert a["hf_answer"] == a["gguf_answer"]
    assert {a["quant"] for a in parity["answers"]} == {"f16", "q8_0"}
    assert "parity OK" in exported["stderr"]


def test_modelfile(exported):
    text = (Path(exported["report"]["folder"]) / "Modelfile").read_text(encoding="utf-8")
    lines = text.splitlines()
    assert "FROM ./demo-q8_0.gguf" in lines
    assert 'PARAMETER stop "<end_of_turn>"' in lines
    template = text.split('TEMPLATE """', 1)[1].split('"""', 1)[0]
    assert "<start_of_turn>user\n" in template and "<start_of_turn>model\n" in template
    assert "{{ $m.Content }}<end_of_turn>" in template
    assert "<s>" not in template, "BOS comes from the tokenizer; a template BOS would double it"
    from core.export import modelfile_text

    with_system = modelfile_text("x.gguf", chat_template="<start_of_turn>", eos_token="<end_of_turn>", system="Будь краток.")
    assert 'SYSTEM """Будь краток."""' in with_system.splitlines()


def test_gguf_loads_in_a_fresh_process(exported):
    """The file stands alone: a new interpreter loads it and answers like the HF model did."""
    q8 = next(f["path"] for f in exported["report"]["files"] if f["quant"] == "q8_0")
    first = next(a for a in exported["report"]["parity"]["answers"] if a["quant"] == "q8_0")
    code = (
        "import json, sys, llama_cpp\n"
        "llm = llama_cpp.Llama(model_path=sys.argv[1], n_ctx=256, verbose=False)\n"
        "r = llm.create_chat_completion([{'role': 'user', 'content': sys.argv[2]}], temperature=0, max_tokens=48)\n"
        "print(json.dumps({'text': r['choices'][0]['message']['content'], 'finish': r['choices'][0]['finish_reason'],"
        " 'template': 'tokenizer.chat_template' in llm.metadata}))\n"
        "llm.close()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, q8, first["question"]], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["template"] and out["finish"] == "stop"
    assert out["text"].strip() == first["hf_answer"].strip()


def test_parity_fails_loudly_on_a_broken_template(exported, tmp_path):
    from tests.support.models import broken_template_parity

    # the HF side now calls the assistant "assistant" while the GGUF still says "model"
    result = broken_template_parity(exported["report"], tmp_path)
    assert not result.ok and not result.template_equal and not result.tokens_equal
    text = "\n".join(result.warnings)
    assert "prompt text differs at character" in text and "'assistant" in text
    assert "prompt token ids differ at position" in text
    assert "PARITY" in result.summary().upper() or "DIFFERS" in result.summary()


def test_failed_export_leaves_nothing_registered(exported_copy, demo_model, monkeypatch):
    import core.export as export_mod
    from core.errors import UserError
    from core.workspace import Workspace

    def boom(*a, **kw):
        raise UserError("simulated converter failure")

    monkeypatch.setattr(export_mod, "convert_hf_to_gguf", boom)
    ws = Workspace.open(exported_copy)
    with ws.store() as store:
        before = [m.name for m in store.list_models()]
    events = []
    with pytest.raises(UserError, match="simulated"):
        export_mod.export(ws, str(demo_model), quants=["q8_0"], name="broken", progress=events.append)
    stages = [(e.stage, e.done, e.total) for e in events]
    assert ("merge", 0, 1) in stages and ("merge", 1, 1) in stages and ("convert", 0, 1) in stages
    assert "register" not in [e.stage for e in events]
    with ws.store() as store:
        assert [m.name for m in store.list_models()] == before
    assert sorted(p.name for p in ws.exports_dir.iterdir()) == ["demo"]


def test_export_user_errors(exported_copy, tmp_path):
    code, _, err = run_cli(exported_copy, "export", "no-such-run")
    assert code == 2 and "nothing to export called 'no-such-run'" in err
    code, _, err = run_cli(exported_copy, "export", str(tmp_path), "--quant", "q3_xx")
    assert code == 2 and "unknown quantization 'q3_xx'" in err


def test_sources_by_name_run_and_folder(home, demo_model, tmp_path):
    """What `export` accepts: a registered base by name, a model folder, a finished run's id."""
    from core.errors import UserError
    from core.export import resolve_source
    from core.workspace import Workspace

    ws = Workspace.open(home)
    with ws.store() as store:
        store.add_model("base", "demo", str(demo_model))
        run = store.create_run(base="demo", preset="demo", backend="hf", config={})
    by_name = resolve_source(ws, "demo")
    assert by_name.model_dir == demo_model and by_name.adapter_dir is None
    assert resolve_source(ws, str(demo_model)).model_dir == demo_model.resolve()
    with pytest.raises(UserError, match=f"run {run.id} has no adapter yet"):
        resolve_source(ws, str(run.id))
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "demo"}))
    with ws.store() as store:
        store.update_run(run.id, status="done", adapter_path=str(adapter), dataset_sha256="abc")
    src = resolve_source(ws, str(run.id))
    assert (src.adapter_dir, src.model_dir, src.run_id, src.dataset_sha256, src.name) == (
        adapter, demo_model, run.id, "abc", f"run-{run.id}"
    )


def test_converter_is_unpacked_from_the_pinned_sdist(tmp_path, llamacpp_cache):
    """The converters (whole models and LoRA adapters), gguf-py, the four families' vocabularies and the official templates are kept."""
    from core.infer.llamacpp import LLAMA_CPP_PYTHON, converter_dir, llamacpp_file

    conv = converter_dir(llamacpp_cache)
    assert conv.name == f"llama.cpp-{LLAMA_CPP_PYTHON}"
    assert (conv / "convert_hf_to_gguf.py").is_file() and (conv / "convert_lora_to_gguf.py").is_file()
    assert (conv / "conversion" / "__init__.py").is_file()
    assert (conv / "gguf-py" / "gguf" / "__init__.py").is_file()
    assert not (conv / "CMakeLists.txt").exists() and not (conv / "src").exists()
    vocabs = sorted(p.name for p in (conv / "models").glob("ggml-vocab-*.gguf"))
    assert vocabs == ["ggml-vocab-gemma-4.gguf", "ggml-vocab-llama-bpe.gguf", "ggml-vocab-qwen2.gguf", "ggml-vocab-qwen35.gguf"]
    assert "{%" in llamacpp_file("models/templates/meta-llama-Llama-3.1-8B-Instruct.jinja").read_text(encoding="utf-8")


def test_fetch_unpacks_a_given_sdist_offline_and_keeps_only_what_is_used(tmp_path, monkeypatch):
    """`python -m core.infer.llamacpp fetch --sdist FILE` seeds a box without internet; nothing else is read."""
    import io
    import tarfile

    import core.infer.llamacpp as lc

    prefix = f"llama_cpp_python-{lc.LLAMA_CPP_PYTHON}/vendor/llama.cpp/"
    sdist = tmp_path / f"llama_cpp_python-{lc.LLAMA_CPP_PYTHON}.tar.gz"
    files = {
        "convert_hf_to_gguf.py": "print('converter')\n",
        "convert_lora_to_gguf.py": "print('LoRA converter')\n",
        "conversion/__init__.py": "",
        "gguf-py/gguf/__init__.py": "",
        "models/templates/Qwen-Qwen3-0.6B.jinja": "{{ messages }}",
        "models/ggml-vocab-qwen2.gguf": "GGUF",
        "models/ggml-vocab-qwen2.gguf.inp": "text",
        "models/ggml-vocab-falcon.gguf": "not kept",
        "src/llama.cpp": "not kept",
    }
    with tarfile.open(sdist, "w:gz") as tar:
        for rel, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(prefix + rel)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    monkeypatch.setattr(lc, "_pip_download", lambda dest: (_ for _ in ()).throw(AssertionError("no download offline")))
    dest = tmp_path / "share" / f"llama.cpp-{lc.LLAMA_CPP_PYTHON}"
    assert lc.main(["fetch", "--sdist", str(sdist), "--dest", str(dest)]) == 0
    kept = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file() and not p.name.startswith("."))
    assert kept == sorted(k for k in files if "falcon" not in k and not k.startswith("src/"))
    monkeypatch.delenv("NASTAVNIK_LLAMACPP_CACHE", raising=False)
    monkeypatch.setattr(lc, "installed_dir", lambda: dest)
    assert lc.converter_dir(tmp_path / "empty-cache") == dest  # the install-time copy is used, nothing fetched


def test_an_unpack_from_before_the_lora_converter_is_unpacked_again(tmp_path, monkeypatch):
    """A cache unpacked by an older Nastavnik (no convert_lora_to_gguf.py) is refreshed from the sdist on next use."""
    import io
    import tarfile

    import core.infer.llamacpp as lc

    prefix = f"llama_cpp_python-{lc.LLAMA_CPP_PYTHON}/vendor/llama.cpp/"
    root = tmp_path / "cache"
    old = root / f"llama.cpp-{lc.LLAMA_CPP_PYTHON}"
    old.mkdir(parents=True)
    (old / "convert_hf_to_gguf.py").write_text("old\n")
    (old / ".complete-2").write_text("older unpack\n")
    with tarfile.open(root / f"llama_cpp_python-{lc.LLAMA_CPP_PYTHON}.tar.gz", "w:gz") as tar:
        for rel in ("convert_hf_to_gguf.py", "convert_lora_to_gguf.py"):
            info = tarfile.TarInfo(prefix + rel)
            info.size = 4
            tar.addfile(info, io.BytesIO(b"new\n"))
    monkeypatch.setenv("NASTAVNIK_LLAMACPP_CACHE", str(root))
    monkeypatch.setattr(lc, "installed_dir", lambda: tmp_path / "not-installed")
    assert lc.converter_dir(root) == old
    assert (old / "convert_lora_to_gguf.py").read_text() == "new\n" == (old / "convert_hf_to_gguf.py").read_text()
