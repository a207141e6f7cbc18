"""``nastavnik runs diff A B``: what changed between two runs, as text and as --json."""

from __future__ import annotations

from tests.support.runs import two_runs_with_every_change


def test_runs_diff_prints_each_change_and_its_json_names_them(home, store, cli):
    a, b, p = two_runs_with_every_change(home, store)
    data = cli("runs", "diff", a.id, b.id, "--json").json()
    assert (data["a"], data["b"], data["complete"]) == (a.id, b.id, True)
    assert data["settings"] == [{"key": "lr", "old": 2e-4, "new": 1e-4}]
    pairs = data["pairs"]
    assert [(x["id"], x["before"]) for x in pairs["added"]] == [(p["approved"], "draft"), (p["restored"], "deleted"), (p["new"], "new")]
    assert [(x["id"], x["reason"]) for x in pairs["removed"]] == [
        (p["rejected"], "rejected"), (p["deleted"], "deleted"), (p["purged"], "deleted"), (p["unapproved"], "draft")]
    assert [(x["id"], x["old"], x["new"]) for x in pairs["moved"]] == [(p["moved"], "train", "eval")]
    assert [(x["id"], x["added"], x["removed"]) for x in pairs["tags"]] == [(p["retagged"], ["общее"], ["база"])]
    assert [(x["id"], x["old"], x["new"]) for x in pairs["status"]] == [
        (p["rejected"], "approved", "rejected"), (p["approved"], "draft", "approved"), (p["unapproved"], "approved", "draft")]
    [edit] = pairs["edited"]
    assert [c["field"] for c in edit["changes"]] == ["question", "answer"]
    assert "+квантованной в 4 бита." in edit["changes"][1]["diff"]
    assert data["preferences"] is None

    # one run: against the run before it; the text names every change with its pair
    code, out, _ = cli("runs", "diff", b.id)
    assert code == 0 and out.startswith(f"run {a.id} → run {b.id}")
    assert "lr: 0.0002 → 0.0001" in out
    assert f"- #{p['rejected']} Что такое GGUF?  (removed: rejected)" in out
    assert f"+ #{p['new']} Что такое чекпоинт?  (added; was new)" in out
    assert f"~ #{p['edited']} Что такое QLoRA и зачем она?  (edited: question, answer)" in out
    assert f"> #{p['moved']} Что такое батч?  (split: train → eval)" in out
    assert f"# #{p['retagged']} Что такое лосс?  (tags: +общее -база)" in out
    assert f"* #{p['approved']} Что такое токен?  (status: draft → approved)" in out

    code, _, err = cli("runs", "diff", a.id)  # the first run has none before it
    assert code != 0 and f"run {a.id} has no earlier run to compare with" in err
