"""Checkpoints from the Hugging Face hub, fetched as background jobs of the one job framework.

* ``fetch``: the hub side — which files a base needs, their sizes, the disk check, the
  download itself through ``huggingface_hub`` (its cache, its resume of ``.incomplete``
  files) and the hub's errors said as coded ``UserError``s;
* ``download``: download jobs — start, refresh, cancel, wait, progress — over ``core.jobs``;
* ``worker``: the detached worker (``python -m core.hub.worker``) that runs one job and
  registers the base model it fetched.
"""
