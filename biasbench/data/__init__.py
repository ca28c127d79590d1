"""Datasets: readers of official annotation formats, clip decoding, sampling and loading."""
