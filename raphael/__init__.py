"""RAPHAEL: text-to-image diffusion with a mixture of diffusion paths."""
