"""The demo preset batches examples of similar length together (``--group-by-length``): an
epoch computes far less padding, and still trains every example exactly once."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


def _epoch(store, demo_model, tmp_path, **change) -> tuple[int, int, list[int]]:
    """(padding tokens, real tokens, the lengths of every example) over one epoch of the
    dataloader the run's trainer builds."""
    from core.train import pipeline
    from core.train.config import TrainConfig

    config = TrainConfig.from_preset("demo").with_(base=str(demo_model), backend="hf", **change)
    backend, model, tokenizer, processing_class = pipeline.load_base(config, str(demo_model))
    model = pipeline.add_adapters(backend, model, config)
    paths = pipeline.RunPaths(tmp_path / "run")
    paths.root.mkdir(parents=True)
    train_ds, _eval_ds = pipeline.format_and_mask(tokenizer, config, pipeline.snapshot_dataset(paths, store))
    args = pipeline.sft_config(config, backend, paths, has_eval=False)
    trainer = pipeline.make_trainer(model, processing_class, train_ds, None, args, [])
    pad = real = 0
    lengths = []
    for batch in trainer.get_train_dataloader():
        mask = batch["attention_mask"]
        pad += int((mask == 0).sum())
        real += int(mask.sum())
        lengths += [int(n) for n in mask.sum(dim=1)]
    return pad, real, sorted(lengths)


def test_grouped_batches_carry_far_less_padding_and_the_same_examples(store, demo_model, tmp_path):
    from core.train.demo import import_sample

    import_sample(store)
    grouped = _epoch(store, demo_model, tmp_path / "grouped")
    shuffled = _epoch(store, demo_model, tmp_path / "shuffled", group_by_length=False)
    assert grouped[1:] == shuffled[1:]  # every example once, whole, either way
    assert grouped[0] < shuffled[0] / 2, (grouped[0], shuffled[0])  # padding to compute
