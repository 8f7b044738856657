"""Data: the procedural shapes dataset and its oracle, WebDataset shards, edge targets,
aspect-ratio buckets and the Lightning datamodule (see docs/data.md).

Submodules are imported on use (``raphael.data.shapes``, ``.oracle``, ``.shards``, ``.edges``,
``.buckets``, ``.datamodule``) so that importing the vocabulary does not pull in Lightning.
"""
