"""Sampling frames from videos: probing, decoding backends, packets and sample times."""
