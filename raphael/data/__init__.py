"""Data: the generic WebDataset pipeline (shards, decoding, edge targets, aspect-ratio buckets, the Lightning
datamodule; see docs/data.md). What a dataset's prompts mean and how a sample is judged is a task
(raphael.tasks); a task writes its own synthetic shards (`data.generate._target_`, e.g.
raphael.tasks.shapes.shards.write_shapes_shards).

Submodules are imported on use (``.shards``, ``.decode``, ``.edges``, ``.buckets``, ``.datamodule``) so that
reading shards does not pull in Lightning.
"""
